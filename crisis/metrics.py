"""The numbers an on-call lead watches, on ``/metrics`` (prometheus-client's default registry).

Counters and histograms are counted where the event happens (the process that stored the alert,
took the claim, saw the first contact), so a scraper sums them over processes. The gauges describe
the shared database, not one process: every process refreshes them from it every few seconds, so
any process answers with the same values (take ``max`` over processes, not ``sum``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from prometheus_client import Counter, Gauge, Histogram
from sqlalchemy import func, select

from server.storage.models import CrisisAlert, ResponderOnCall

if TYPE_CHECKING:
    from server.services import Services

# Seconds: from the first seconds a responder needs to read an alert to the hours of a missed one.
LATENCY_BUCKETS = (5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200, 21600)

ALERTS = Counter("mentalverse_crisis_alerts_total", "Crisis alerts raised, by detector tier.", ["tier"])
TIME_TO_CLAIM = Histogram(
    "mentalverse_crisis_time_to_claim_seconds", "From an alert being raised to a responder claiming it.",
    buckets=LATENCY_BUCKETS)
TIME_TO_CONTACT = Histogram(
    "mentalverse_crisis_time_to_contact_seconds",
    "From an alert being raised to the responder's first message in the crisis conversation.",
    buckets=LATENCY_BUCKETS)
OPEN_ALERTS = Gauge(
    "mentalverse_crisis_open_alerts", "Alerts nobody has claimed yet, by escalation level.", ["level"])
ON_CALL = Gauge("mentalverse_crisis_responders_on_call", "Responders with the on-call flag on.")


async def refresh_gauges(services: "Services") -> None:
    """Read the unclaimed alerts per level and the on-call count from the database."""
    async with services.db.read() as s:
        levels = (await s.execute(
            select(CrisisAlert.level, func.count()).where(CrisisAlert.status == "open").group_by(CrisisAlert.level)
        )).all()
        on_call = await s.scalar(select(func.count()).select_from(ResponderOnCall))
    # Clear first: a level with no alert left must not keep its old count.
    OPEN_ALERTS.clear()
    for level, count in levels:
        OPEN_ALERTS.labels(str(level)).set(count)
    ON_CALL.set(on_call or 0)
