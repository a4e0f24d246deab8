"""The responder report: how many alerts, how bad, how they ended, and how long people waited for a
claim and for a first message in the conversation (p50/p90), since a given moment.

A responder sees their own numbers (alerts they hold or held) beside the totals; a supervisor's
own numbers are everyone's. Times are measured from the alert being raised, since the person's
wait started with their message, not with anyone's shift.
"""

from __future__ import annotations

import statistics
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from crisis.alerts import OUTCOMES, SUPERVISOR_ROLES
from server.core.errors import InvalidPayload
from server.storage.models import CrisisAlert

if TYPE_CHECKING:
    from server.accounts.users import AuthUser
    from server.services import Services


def _utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def percentiles(values: list[float]) -> dict[str, float | None]:
    """p50 and p90 (inclusive method: they lie within the observed values); null without data."""
    if not values:
        return {"p50": None, "p90": None}
    if len(values) == 1:
        return {"p50": round(values[0], 1), "p90": round(values[0], 1)}
    deciles = statistics.quantiles(values, n=10, method="inclusive")
    return {"p50": round(statistics.median(values), 1), "p90": round(deciles[8], 1)}


def summarize(rows: list[Any]) -> dict[str, Any]:
    """Counts and latencies of (tier, outcome, created_at, claimed_at, contact_at) rows."""
    by_tier: dict[str, int] = {}
    by_outcome: dict[str, int] = {outcome: 0 for outcome in OUTCOMES}
    to_claim, to_contact = [], []
    for tier, outcome, created_at, claimed_at, contact_at in rows:
        by_tier[str(tier)] = by_tier.get(str(tier), 0) + 1
        if outcome:
            by_outcome[outcome] = by_outcome.get(outcome, 0) + 1
        if claimed_at:
            to_claim.append((claimed_at - created_at).total_seconds())
        if contact_at:
            to_contact.append((contact_at - created_at).total_seconds())
    return {
        "alerts": len(rows),
        "by_tier": by_tier,
        "by_outcome": by_outcome,
        "time_to_claim_seconds": percentiles(to_claim),
        "time_to_contact_seconds": percentiles(to_contact),
    }


def parse_since(since: str | None) -> datetime | None:
    if since is None:
        return None
    try:
        return _utc(datetime.fromisoformat(since))
    except ValueError:
        raise InvalidPayload("since is an ISO 8601 date and time, e.g. 2026-12-01T00:00:00Z.", code="invalid_since") from None


async def responder_report(services: "Services", user: "AuthUser", since: str | None) -> dict[str, Any]:
    """``{alerts, by_tier, by_outcome, time_to_claim_seconds, time_to_contact_seconds, totals}``."""
    start = parse_since(since)
    query = select(CrisisAlert.tier, CrisisAlert.outcome, CrisisAlert.created_at, CrisisAlert.claimed_at,
                   CrisisAlert.contact_at, CrisisAlert.claimed_by)
    if start is not None:
        query = query.where(CrisisAlert.created_at >= start)
    async with services.db.read() as s:
        rows = (await s.execute(query)).all()
    everyone = [tuple(r[:5]) for r in rows]
    mine = everyone if user.role in SUPERVISOR_ROLES else [tuple(r[:5]) for r in rows if r[5] == user.id]
    return {**summarize(mine), "totals": summarize(everyone), "since": start.isoformat() if start else None}
