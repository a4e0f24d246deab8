"""Session lifecycle: scheduled → live → completed | no_show, or scheduled → cancelled.

- scheduled → live: the first participant joins (``session:join``), which is allowed from
  ``join_window_seconds`` before the start until the end.
- live → completed: at ``ends_at`` (or when the host ends it early) if the session reached
  quorum — 1:1: mentor and mentee both joined; group: the leader and at least one member.
- scheduled | live → no_show: quorum not reached ``no_show_grace_seconds`` after the start
  (or by the end, or when the host ends it); ``absent_ids`` names who never came.
- scheduled → cancelled: by a participant (1:1) or the leader (group) before the start.

Every transition is one conditional UPDATE (``WHERE status = <old>``), so when several
processes see the same due session only one of them makes — and announces — the change.
Rewards are queued in the outbox in that same transaction.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING

from sqlalchemy import delete, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from server.accounts.users import AuthUser
from server.core.errors import AppError, Conflict, Forbidden
from server.rewards.outbox import record_reward
from server.storage.models import ScheduledSession, SessionAttendance, SessionClaim

from .sessions import (
    COMPLETED,
    LIVE,
    NO_SHOW,
    OPEN_STATUSES,
    SCHEDULED,
    as_utc,
    load_for_participant,
    notify,
    participant_ids,
    readers,
)

if TYPE_CHECKING:
    from server.services import Services

BATCH_SIZE = 100


async def attendees(session: AsyncSession, session_id: str) -> set[str]:
    return set(await session.scalars(select(SessionAttendance.user_id).where(SessionAttendance.session_id == session_id)))


def has_quorum(row: ScheduledSession, joined: set[str]) -> bool:
    if row.kind == "group":
        return row.host_id in joined and len(joined - {row.host_id}) >= 1
    return row.host_id in joined and row.mentee_id in joined


def absentees(row: ScheduledSession, joined: set[str], people: list[str]) -> list[str]:
    if row.kind == "group":
        # A group session without its leader is a no-show by the leader; with the leader but no
        # one else, every member was absent.
        return [row.host_id] if row.host_id not in joined else [p for p in people if p != row.host_id]
    return [p for p in (row.host_id, row.mentee_id) if p and p not in joined]


async def _transition(session: AsyncSession, row: ScheduledSession, old: str, new: str, **values: object) -> bool:
    """Make one transition if nobody else has; returns whether this caller made it."""
    result = await session.execute(
        update(ScheduledSession).where(ScheduledSession.id == row.id, ScheduledSession.status == old)
        .values(status=new, **values)
    )
    if result.rowcount != 1:
        return False
    row.status = new
    for name, value in values.items():
        setattr(row, name, value)
    return True


async def _queue_rewards(session: AsyncSession, row: ScheduledSession, joined: set[str]) -> None:
    detail = {"session_id": row.id, "kind": row.kind, "starts_at": as_utc(row.starts_at).isoformat()}
    if row.kind == "group":
        await record_reward(session, "group_session_led", row.host_id, f"group_session_led:{row.id}", detail)
        earners = sorted(joined - {row.host_id})
    else:
        earners = [row.host_id, row.mentee_id]
    for uid in earners:
        await record_reward(session, "session_completed", uid, f"session_completed:{row.id}:{uid}", detail)


async def _finish(session: AsyncSession, row: ScheduledSession, *, ended: bool) -> bool:
    """Close an open session as completed (quorum, once ``ended``) or no_show; False if another
    process did, or if quorum was reached but the session is not over yet."""
    joined = await attendees(session, row.id)
    if has_quorum(row, joined):
        if not ended or not await _transition(session, row, row.status, COMPLETED):
            return False
        await _queue_rewards(session, row, joined)
    else:
        people = await participant_ids(session, row)
        if not await _transition(session, row, row.status, NO_SHOW, absent_ids=absentees(row, joined, people)):
            return False
    # A session that ended early gives the rest of its time back.
    await session.execute(delete(SessionClaim).where(SessionClaim.session_id == row.id))
    return True


async def join_session(services: "Services", user: AuthUser, session_id: str) -> tuple[ScheduledSession, bool]:
    """Record the user's arrival; returns the session and whether its status changed."""
    now = datetime.now(timezone.utc)
    window = timedelta(seconds=services.settings.join_window_seconds)
    async with services.db.transaction() as s:
        row = await load_for_participant(s, session_id, user.id)
        if row.status not in OPEN_STATUSES or as_utc(row.ends_at) <= now:
            raise Conflict("This session is over or was cancelled.", code="session_closed")
        opens_at = as_utc(row.starts_at) - window
        if now < opens_at:
            raise AppError("The session's room is not open yet.", code="join_window_closed", status=409,
                           details={"opens_at": opens_at.isoformat()})
        if await s.get(SessionAttendance, (row.id, user.id)) is None:
            s.add(SessionAttendance(session_id=row.id, user_id=user.id, joined_at=now))
            try:
                await s.flush()
            except IntegrityError:
                pass
        quorum = has_quorum(row, await attendees(s, row.id))
        changed = False
        if row.status == SCHEDULED:
            changed = await _transition(s, row, SCHEDULED, LIVE, quorum=quorum)
        elif quorum and not row.quorum:
            await s.execute(update(ScheduledSession).where(ScheduledSession.id == row.id).values(quorum=True))
            row.quorum = True
    return row, changed


async def end_session(services: "Services", user: AuthUser, session_id: str) -> ScheduledSession:
    """The host closes a live session before its end time."""
    async with services.db.transaction() as s:
        row = await load_for_participant(s, session_id, user.id)
        if row.host_id != user.id:
            raise Forbidden("Only the session's host can end it.")
        if row.status != LIVE or not await _finish(s, row, ended=True):
            raise Conflict("Only a live session can be ended.", code="session_not_live")
    return row


async def advance_by_time(services: "Services") -> int:
    """One pass over sessions whose time has come: no-shows after the grace, completions at the end."""
    now = datetime.now(timezone.utc)
    grace = timedelta(seconds=services.settings.no_show_grace_seconds)
    async with services.db.transaction() as s:
        due = list(await s.scalars(
            select(ScheduledSession.id).where(
                or_(
                    (ScheduledSession.status.in_(OPEN_STATUSES)) & (ScheduledSession.quorum.is_(False))
                    & or_(ScheduledSession.starts_at <= now - grace, ScheduledSession.ends_at <= now),
                    (ScheduledSession.status == LIVE) & (ScheduledSession.ends_at <= now),
                )
            ).order_by(ScheduledSession.starts_at).limit(BATCH_SIZE)
        ))
    changed = 0
    for session_id in due:
        async with services.db.transaction() as s:
            row = await s.get(ScheduledSession, session_id)
            if row is None or row.status not in OPEN_STATUSES:
                continue
            if not await _finish(s, row, ended=as_utc(row.ends_at) <= now):
                continue
            people = await participant_ids(s, row)
            info = await readers(s, people)
        await notify(services, "session:status", row, people, info)
        changed += 1
    return changed
