"""Booking, group scheduling, cancelling and rescheduling: the decisions about whose time is taken.

Double booking is prevented by the database, not by this process: a session claims its
participants' time as rows keyed (user_id, 15-minute UTC block). Two overlapping sessions for
one person would need the same key, so whichever transaction commits second fails on the
primary key — on SQLite and PostgreSQL alike, however many server processes are running.
Blocks are aligned to 15 minutes of UTC because every real zone offset is a multiple of 15
minutes; a session that starts off the grid claims the whole block it starts in (conservative).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import TYPE_CHECKING

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from server.accounts.blocks import refuse_if_blocked
from server.accounts.users import AuthUser
from server.chat.room_access import require_member
from server.chat.rooms import create_room
from server.core.audit import record_audit
from server.core.errors import Conflict, Forbidden, InvalidPayload, NotFound
from server.core.roles import MENTOR_ROLES, ROOM_LEADER
from server.storage.models import Membership, Room, ScheduledSession, SessionClaim, User, new_id

from .availability import availability_of, is_slot_start, local_to_utc, slot_starts, zone
from .reminders import clear_reminders, plan_reminders, reminder_offsets
from .sessions import CANCELLED, SCHEDULED, as_utc, load_for_participant, participant_ids

if TYPE_CHECKING:
    from server.services import Services

CLAIM_BLOCK = timedelta(minutes=15)
HOST_ROLES = MENTOR_ROLES
MAX_OCCURRENCES = 52
MAX_GROUP_MINUTES = 8 * 60
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


@dataclass(frozen=True)
class Slot:
    starts_at: datetime
    ends_at: datetime
    free: bool


def claim_blocks(starts_at: datetime, ends_at: datetime) -> list[datetime]:
    """The 15-minute UTC blocks that [starts_at, ends_at) touches."""
    first = EPOCH + ((starts_at - EPOCH) // CLAIM_BLOCK) * CLAIM_BLOCK
    blocks = []
    block = first
    while block < ends_at:
        blocks.append(block)
        block += CLAIM_BLOCK
    return blocks


async def claim_time(session: AsyncSession, user_ids: list[str], session_id: str, starts_at: datetime, ends_at: datetime) -> None:
    """Take the users' time for the session, or raise Conflict(slot_taken) if any of it is taken."""
    for uid in dict.fromkeys(user_ids):
        for block in claim_blocks(starts_at, ends_at):
            session.add(SessionClaim(user_id=uid, block_start=block, session_id=session_id))
    try:
        await session.flush()
    except IntegrityError:
        raise Conflict("That time is no longer free.", code="slot_taken") from None


async def release_time(session: AsyncSession, session_id: str) -> None:
    await session.execute(delete(SessionClaim).where(SessionClaim.session_id == session_id))


async def taken_blocks(session: AsyncSession, user_id: str, start: datetime, end: datetime) -> set[datetime]:
    rows = await session.scalars(
        select(SessionClaim.block_start).where(SessionClaim.user_id == user_id, SessionClaim.block_start >= start - CLAIM_BLOCK,
                                               SessionClaim.block_start < end)
    )
    return {as_utc(b) for b in rows}


async def host_slots(services: "Services", host_id: str, first_day: date, days: int) -> tuple[str, list[Slot]]:
    """The host's slots on their local days ``first_day`` …, each marked free or taken."""
    length = timedelta(minutes=services.settings.slot_minutes)
    now = datetime.now(timezone.utc)
    async with services.db.transaction() as s:
        tz_name, windows = await availability_of(s, host_id)
        starts = slot_starts(windows, tz_name, first_day, days, services.settings.slot_minutes)
        taken = await taken_blocks(s, host_id, starts[0], starts[-1] + length) if starts else set()
    slots = [
        Slot(start, start + length, not any(b in taken for b in claim_blocks(start, start + length)))
        for start in starts if start > now
    ]
    return tz_name, slots


async def find_direct_room(services: "Services", a: str, b: str) -> str | None:
    async with services.db.transaction() as s:
        rooms_of_a = select(Membership.room_id).where(Membership.user_id == a)
        return await s.scalar(
            select(Room.id).join(Membership, Membership.room_id == Room.id)
            .where(Room.kind == "direct", Membership.user_id == b, Room.id.in_(rooms_of_a)).limit(1)
        )


async def direct_room_between(services: "Services", a: str, b: str) -> str:
    """The direct room of two people, opened now (by ``a``) if they have none."""
    return await find_direct_room(services, a, b) or (await create_room(services, a, "direct", "", [b]))["id"]


def _check_future(services: "Services", starts_at: datetime, now: datetime) -> None:
    if starts_at <= now:
        raise InvalidPayload("That time has already passed.", code="in_the_past")
    if starts_at > now + timedelta(days=services.settings.booking_horizon_days):
        raise InvalidPayload("That is too far ahead to book.", code="beyond_horizon")


async def _bookable_host(s: AsyncSession, host_id: str) -> User:
    host = await s.get(User, host_id) if isinstance(host_id, str) and len(host_id) <= 64 else None
    if host is None or host.banned or host.role not in HOST_ROLES:
        raise NotFound("No mentor with that id takes bookings.")
    return host


async def _require_slot(services: "Services", s: AsyncSession, host_id: str, starts_at: datetime) -> None:
    tz_name, windows = await availability_of(s, host_id)
    if not is_slot_start(windows, tz_name, starts_at, services.settings.slot_minutes):
        raise InvalidPayload("That time is not one of the mentor's available slots.", code="not_available")


async def book_one_to_one(services: "Services", mentee: AuthUser, host_id: str, starts_at: datetime, title: str) -> ScheduledSession:
    """Book a free slot of a mentor for the caller; exactly one of concurrent bookers wins."""
    now = datetime.now(timezone.utc)
    _check_future(services, starts_at, now)
    if host_id == mentee.id:
        raise InvalidPayload("You cannot book a session with yourself.")
    async with services.db.transaction() as s:
        await _bookable_host(s, host_id)
        await refuse_if_blocked(s, mentee.id, host_id)
        await _require_slot(services, s, host_id, starts_at)
    room_id = await direct_room_between(services, host_id, mentee.id)
    ends_at = starts_at + timedelta(minutes=services.settings.slot_minutes)
    async with services.db.transaction() as s:
        row = ScheduledSession(id=new_id(), kind="one_to_one", room_id=room_id, host_id=host_id, mentee_id=mentee.id,
                               title=title.strip(), starts_at=starts_at, ends_at=ends_at, status=SCHEDULED,
                               quorum=False, absent_ids=[], sequence=0, created_by=mentee.id)
        s.add(row)
        await claim_time(s, [host_id, mentee.id], row.id, starts_at, ends_at)
        plan_reminders(s, row, reminder_offsets(services.settings), now)
        await record_audit(s, mentee.id, "session.book", room_id=room_id, target_id=row.id,
                           detail={"host_id": host_id, "starts_at": starts_at.isoformat()})
    return row


def weekly_starts(first: datetime, tz_name: str, count: int, exceptions: set[date]) -> list[datetime]:
    """Weekly occurrences at the same local wall-clock time as ``first`` (so 18:00 stays 18:00
    across a DST change), skipping the local dates in ``exceptions``."""
    tz = zone(tz_name)
    local = first.astimezone(tz)
    minute = local.hour * 60 + local.minute
    starts = []
    for week in range(count):
        day = local.date() + timedelta(weeks=week)
        if day in exceptions:
            continue
        instant = local_to_utc(day, minute, tz)
        if instant is None:  # the wall-clock time is skipped that day: take the hour after
            instant = local_to_utc(day, minute + 60, tz)
        if instant is not None:
            starts.append(instant + timedelta(seconds=local.second))
    return starts


async def schedule_group(services: "Services", leader: AuthUser, room_id: str, first_start: datetime, duration_minutes: int,
                         title: str, weekly_count: int, exceptions: list[str], tz_name: str) -> list[ScheduledSession]:
    """Schedule a group session, or a weekly series of them, in the leader's group room."""
    now = datetime.now(timezone.utc)
    if not 1 <= weekly_count <= MAX_OCCURRENCES:
        raise InvalidPayload(f"A series has 1 to {MAX_OCCURRENCES} weekly occurrences.")
    if not 5 <= duration_minutes <= MAX_GROUP_MINUTES:
        raise InvalidPayload(f"A group session lasts 5 to {MAX_GROUP_MINUTES} minutes.")
    try:
        skipped = {date.fromisoformat(d) for d in exceptions}
    except ValueError:
        raise InvalidPayload("Exceptions are local dates such as 2027-03-15.", code="invalid_time") from None
    starts = weekly_starts(first_start, tz_name, weekly_count, skipped)
    if not starts:
        raise InvalidPayload("Every occurrence is an exception.")
    for start in starts:
        _check_future(services, start, now)
    series_id = new_id() if weekly_count > 1 else None
    length = timedelta(minutes=duration_minutes)
    rows = []
    async with services.db.transaction() as s:
        room, membership = await require_member(s, room_id, leader.id)
        if room.kind != "group" or membership.role != ROOM_LEADER:
            raise Forbidden("Only the leader of a group room can schedule its sessions.")
        for start in starts:
            row = ScheduledSession(id=new_id(), kind="group", room_id=room_id, host_id=leader.id, mentee_id=None,
                                   series_id=series_id, title=title.strip(), starts_at=start, ends_at=start + length,
                                   status=SCHEDULED, quorum=False, absent_ids=[], sequence=0, created_by=leader.id)
            s.add(row)
            await claim_time(s, [leader.id], row.id, start, start + length)
            plan_reminders(s, row, reminder_offsets(services.settings), now)
            rows.append(row)
        await record_audit(s, leader.id, "session.schedule_group", room_id=room_id, target_id=rows[0].id,
                           detail={"occurrences": len(rows), "series_id": series_id})
    return rows


async def _open_for_change(s: AsyncSession, actor: AuthUser, session_id: str) -> ScheduledSession:
    row = await load_for_participant(s, session_id, actor.id)
    if row.kind == "group" and actor.id != row.host_id:
        raise Forbidden("Only the group's leader can change its sessions.")
    if row.status != SCHEDULED or as_utc(row.starts_at) <= datetime.now(timezone.utc):
        raise Conflict("Only a session that has not started can be changed.", code="session_started")
    return row


async def cancel_session(services: "Services", actor: AuthUser, session_id: str, reason: str) -> tuple[ScheduledSession, list[str]]:
    """Cancel a session that has not started; frees everyone's time. Returns the row and who to tell."""
    async with services.db.transaction() as s:
        row = await _open_for_change(s, actor, session_id)
        row.status = CANCELLED
        row.sequence += 1
        await release_time(s, row.id)
        await clear_reminders(s, row.id)
        people = await participant_ids(s, row)
        await record_audit(s, actor.id, "session.cancel", room_id=row.room_id, target_id=row.id, detail={"reason": reason[:200]})
    return row, people


async def reschedule_session(services: "Services", actor: AuthUser, session_id: str, starts_at: datetime) -> tuple[ScheduledSession, datetime, list[str]]:
    """Move a session; a 1:1 moves only to another free slot of the mentor. If the new time is
    taken, nothing changes (the whole transaction rolls back)."""
    now = datetime.now(timezone.utc)
    _check_future(services, starts_at, now)
    async with services.db.transaction() as s:
        row = await _open_for_change(s, actor, session_id)
        if row.kind == "one_to_one":
            await _require_slot(services, s, row.host_id, starts_at)
        previous = as_utc(row.starts_at)
        length = as_utc(row.ends_at) - previous
        await release_time(s, row.id)
        await s.flush()
        row.starts_at, row.ends_at = starts_at, starts_at + length
        row.sequence += 1
        owners = [row.host_id, row.mentee_id] if row.mentee_id else [row.host_id]
        await claim_time(s, owners, row.id, starts_at, starts_at + length)
        await clear_reminders(s, row.id)
        plan_reminders(s, row, reminder_offsets(services.settings), now)
        people = await participant_ids(s, row)
        await record_audit(s, actor.id, "session.reschedule", room_id=row.room_id, target_id=row.id,
                           detail={"from": previous.isoformat(), "to": starts_at.isoformat()})
    return row, previous, people
