"""The labelled export for the detector's evaluation: one JSON line per resolved alert with an outcome.

A resolved alert is a label a responder gave with the person in front of them: ``not_a_risk`` is a
false alarm, every other outcome a risk the detector was right to raise. Each line holds the
tier, the language, the outcome, the excerpt (opened with the room key) and the detection's
reasons, and nothing else: no ids, no names, no times, no note, no other message of the room.
An alert whose room was crypto-shredded has nothing left to quote and is left out.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, AsyncIterator

import orjson
from sqlalchemy import select

from crisis.alerts import opened_finding
from server.storage.models import CrisisAlert, Room

if TYPE_CHECKING:
    from server.services import Services

async def labelled_outcomes(services: "Services") -> AsyncIterator[dict[str, Any]]:
    """Resolved alerts with an outcome, oldest first, as evaluation rows."""
    async with services.db.read() as s:
        rows = (await s.execute(
            select(CrisisAlert, Room).join(Room, Room.id == CrisisAlert.room_id)
            .where(CrisisAlert.status == "resolved", CrisisAlert.outcome.is_not(None))
            .order_by(CrisisAlert.resolved_at)
        )).all()
    for alert, room in rows:
        excerpt, detection = opened_finding(services, room, alert)
        if excerpt is None:
            continue
        yield {
            "tier": alert.tier,
            "language": detection.get("language", ""),
            "outcome": alert.outcome,
            "excerpt": excerpt,
            "reasons": list(detection.get("reasons", ())),
        }


async def export_outcomes(services: "Services", path: Path) -> int:
    """Write the rows to ``path`` (created 0600: the excerpts are people's words); returns how many."""
    count = 0
    path.touch(mode=0o600, exist_ok=True)
    path.chmod(0o600)
    with path.open("wb") as out:
        async for row in labelled_outcomes(services):
            out.write(orjson.dumps(row) + b"\n")
            count += 1
    return count


async def run_export(path: Path) -> int:
    """The ``python -m crisis export-outcomes FILE`` command, on the server's own settings."""
    # A command line is a composition root: it builds the whole server, which imports crisis.
    from server.app import build_services
    from server.core.config import Settings

    services = build_services(Settings.from_env(argv=[]))
    await services.db.migrate()
    try:
        count = await export_outcomes(services, path)
    finally:
        await services.db.close()
    print(f"wrote {count} labelled alerts to {path}")
    return 0
