"""The escalation ladder: who hears of an unclaimed crisis alert, and when the circle widens.

Each alert starts at level 0, whose audience is the first step of ``escalation_chain``. While
nobody claims it, every ``escalation_step_seconds`` the level goes up by one and the audience of
the new level is told again; audiences are cumulative (step 2 still includes step 1's people), and
past the end of the chain the last audience keeps being reminded until someone claims the alert.

The timer is the ``escalate_at`` column, so it survives restarts. Every server process runs the
same loop; a step fires once because it is claimed with a conditional UPDATE that names the level
the process saw (``... WHERE level = :seen``): of several processes, exactly one changes a row.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, AsyncIterator

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from crisis.alerts import alert_views
from server.core.audit import record_audit
from server.core.background import every
from server.storage.models import CrisisAlert, ResponderOnCall
from server.transport.addressing import user_room

if TYPE_CHECKING:
    from server.services import Services

log = logging.getLogger("crisis.escalation")

# Socket.IO rooms of the /responders namespace, one per audience.
ALL_RESPONDERS_ROOM = "responders:all"
SUPERVISORS_ROOM = "responders:supervisors"
STEPS = ("on_call", "all_responders", "supervisors")
# Due alerts claimed per loop turn; the rest wait for the next turn (a poll interval later).
DUE_BATCH = 50


@dataclass(frozen=True)
class EscalationLadder:
    """The configured chain of audiences and the wait between steps."""

    steps: tuple[str, ...]
    step_seconds: float
    poll_seconds: float

    @classmethod
    def from_settings(cls, chain: tuple[str, ...], step_seconds: float, poll_seconds: float) -> "EscalationLadder":
        """Refuses a misspelt chain at start-up rather than silently alerting nobody."""
        unknown = [step for step in chain if step not in STEPS]
        if not chain or unknown:
            raise ValueError(f"escalation_chain must list steps among {', '.join(STEPS)}; got {', '.join(chain) or 'nothing'}")
        if step_seconds <= 0 or poll_seconds <= 0:
            raise ValueError("escalation_step_seconds and escalation_poll_seconds must be positive")
        return cls(tuple(chain), step_seconds, poll_seconds)

    def step_name(self, level: int) -> str:
        return self.steps[min(level, len(self.steps) - 1)]

    def next_escalation(self, now: datetime) -> datetime:
        return now + timedelta(seconds=self.step_seconds)

    async def audience_rooms(self, session: AsyncSession, level: int) -> list[str]:
        """The /responders rooms told at ``level``: every step up to it, the widest last.

        ``on_call`` means the responders with the on-call flag, or every responder when nobody
        has it on, so the first step never goes to an empty room.
        """
        rooms: list[str] = []
        for step in self.steps[: min(level, len(self.steps) - 1) + 1]:
            if step == "on_call":
                on_call = list(await session.scalars(select(ResponderOnCall.user_id)))
                if on_call:
                    rooms.extend(user_room(uid) for uid in on_call)
                else:
                    rooms.append(ALL_RESPONDERS_ROOM)
            elif step == "all_responders":
                rooms.append(ALL_RESPONDERS_ROOM)
            else:
                rooms.append(SUPERVISORS_ROOM)
        return list(dict.fromkeys(rooms))


async def set_on_call(services: "Services", user_id: str, on: bool) -> int:
    """Turn a responder's on-call flag on or off; returns how many are on call now."""
    async with services.db.transaction() as s:
        present = await s.get(ResponderOnCall, user_id)
        if on and present is None:
            s.add(ResponderOnCall(user_id=user_id, since=datetime.now(timezone.utc)))
        elif not on and present is not None:
            await s.execute(delete(ResponderOnCall).where(ResponderOnCall.user_id == user_id))
        await s.flush()
        return len(list(await s.scalars(select(ResponderOnCall.user_id))))


async def on_call_state(services: "Services", user_id: str) -> tuple[bool, int]:
    """(is this responder on call, how many are), as stored: it outlives sign-outs and restarts."""
    async with services.db.read() as s:
        mine = await s.get(ResponderOnCall, user_id)
        count = len(list(await s.scalars(select(ResponderOnCall.user_id))))
    return mine is not None, count


async def escalate_due_alerts(services: "Services", now: datetime | None = None) -> int:
    """Move every due, unclaimed alert one level up and tell the wider audience; returns how many.

    The emit follows the commit: if the process dies in between, that step's notice is lost but
    the alert is still open, so the next step (and every console that connects) shows it again.
    """
    ladder: EscalationLadder = services.crisis.ladder
    now = now or datetime.now(timezone.utc)
    async with services.db.transaction() as s:
        due = (
            await s.execute(
                select(CrisisAlert.id, CrisisAlert.level)
                .where(CrisisAlert.status == "open", CrisisAlert.escalate_at <= now)
                .order_by(CrisisAlert.escalate_at)
                .limit(DUE_BATCH)
            )
        ).all()
    fired = 0
    for alert_id, seen_level in due:
        async with services.db.transaction() as s:
            claimed = await s.execute(
                update(CrisisAlert)
                .where(CrisisAlert.id == alert_id, CrisisAlert.status == "open", CrisisAlert.level == seen_level)
                .values(level=seen_level + 1, escalate_at=ladder.next_escalation(now))
                .execution_options(synchronize_session=False)
            )
            if claimed.rowcount != 1:
                continue  # claimed by a responder, or escalated by another process, meanwhile
            row = await s.get(CrisisAlert, alert_id)
            assert row is not None
            level = seen_level + 1
            await record_audit(s, None, "crisis.escalate", room_id=row.room_id, target_id=row.id,
                               detail={"level": level, "step": ladder.step_name(level)})
            view = (await alert_views(services, s, [row]))[0]
            rooms = await ladder.audience_rooms(s, level)
        view["step"] = ladder.step_name(level)
        await services.crisis.notify_rooms("crisis:escalated", view, rooms)
        log.info("crisis.escalated", extra={"fields": {"alert_id": alert_id, "escalation_level": level}})
        fired += 1
    return fired


@contextlib.asynccontextmanager
async def escalation_lifespan(services: "Services") -> AsyncIterator[None]:
    """Check the timers every ``escalation_poll_seconds`` until the server stops; a database
    hiccup never ends escalation for good, the next turn retries."""
    ladder: EscalationLadder = services.crisis.ladder
    async with every(ladder.poll_seconds, lambda: escalate_due_alerts(services), name="crisis-escalation", first_now=True):
        yield
