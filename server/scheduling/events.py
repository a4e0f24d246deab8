"""The scheduling feature's Socket.IO events, HTTP route and background loop.

Handlers parse, authorize and call the booking / lifecycle / reminder functions; they decide
nothing themselves. The background loop (reminders and time-driven transitions) runs in every
server process; the database makes each reminder and transition happen once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import date, datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, AsyncIterator

import msgspec
from aiohttp import web
from sqlalchemy import or_, select

from server.core.errors import InvalidPayload, NotFound
from server.core.i18n import format_datetime_for
from server.core.roles import GROUP_LEADER_ROLES
from server.services import SERVICES
from server.storage.models import Membership, Room, ScheduledSession
from server.transport.addressing import socket_room
from server.transport.events import EventContext, EventRouter

from . import booking, lifecycle
from .availability import WindowIn, availability_of, parse_windows, set_availability, zone
from .calendar_feed import feed_secret, feed_url, render_feed
from .reminders import deliver_due_reminders, reminder_offsets
from .sessions import as_utc, local_times, notify, parse_instant, participant_ids, readers, session_view

if TYPE_CHECKING:
    from server.services import Services

log = logging.getLogger("server.scheduling")
router = EventRouter()
routes = web.RouteTableDef()

MAX_SLOT_DAYS = 31
GROUP_SCHEDULER_ROLES = GROUP_LEADER_ROLES


class SetAvailability(msgspec.Struct, forbid_unknown_fields=True):
    windows: list[WindowIn]
    timezone: str = ""  # IANA name; empty means the caller's profile zone


class UserRef(msgspec.Struct, forbid_unknown_fields=True):
    user_id: str = ""


class SlotQuery(msgspec.Struct, forbid_unknown_fields=True):
    host_id: str
    from_date: str = ""  # a date in the host's zone; empty means today there
    days: int = 7


class Book(msgspec.Struct, forbid_unknown_fields=True):
    host_id: str
    starts_at: str
    title: str = ""


class ScheduleGroup(msgspec.Struct, forbid_unknown_fields=True):
    room_id: str
    starts_at: str
    duration_minutes: int = 60
    title: str = ""
    weekly_count: int = 1
    exceptions: list[str] = []  # local dates skipped in a weekly series
    timezone: str = ""  # the zone whose wall clock the series keeps; empty = caller's zone


class SessionRef(msgspec.Struct, forbid_unknown_fields=True):
    session_id: str


class Cancel(msgspec.Struct, forbid_unknown_fields=True):
    session_id: str
    reason: str = ""


class Reschedule(msgspec.Struct, forbid_unknown_fields=True):
    session_id: str
    starts_at: str


class SessionList(msgspec.Struct, forbid_unknown_fields=True):
    after: str = ""  # ISO instant; default: 7 days ago
    limit: int = 100


def setup(services: "Services") -> None:
    """Refuse a malformed MV_REMINDER_OFFSETS_SECONDS at start rather than at the first booking."""
    reminder_offsets(services.settings)


@contextlib.asynccontextmanager
async def lifespan(services: "Services") -> AsyncIterator[None]:
    stop = asyncio.Event()
    task = asyncio.create_task(_run_clock(services, stop))
    try:
        yield
    finally:
        stop.set()
        await task


async def _run_clock(services: "Services", stop: asyncio.Event) -> None:
    while not stop.is_set():
        for step in (deliver_due_reminders, lifecycle.advance_by_time):
            try:
                await step(services)
            except Exception:
                log.exception("scheduling.pass_failed", extra={"fields": {"step": step.__name__}})
        try:
            await asyncio.wait_for(stop.wait(), services.settings.scheduler_tick_seconds)
        except asyncio.TimeoutError:
            pass


def _caller_view(ctx: EventContext, row: ScheduledSession) -> dict[str, Any]:
    return session_view(row, ctx.user.timezone, ctx.user.locale)


@router.on("availability:set", SetAvailability)
async def on_availability_set(ctx: EventContext, p: SetAvailability) -> dict[str, Any]:
    windows = parse_windows(p.windows)
    tz_name = p.timezone or ctx.user.timezone
    async with ctx.services.db.transaction() as s:
        await set_availability(s, ctx.user.id, tz_name, windows)
    return {"timezone": tz_name, "windows": [w.view() for w in windows]}


@router.on("availability:get", UserRef)
async def on_availability_get(ctx: EventContext, p: UserRef) -> dict[str, Any]:
    async with ctx.services.db.transaction() as s:
        tz_name, windows = await availability_of(s, p.user_id or ctx.user.id)
    return {"user_id": p.user_id or ctx.user.id, "timezone": tz_name, "windows": [w.view() for w in windows]}


@router.on("availability:slots", SlotQuery)
async def on_availability_slots(ctx: EventContext, p: SlotQuery) -> dict[str, Any]:
    """A host's bookable slots, each in UTC, in the host's zone and in the caller's zone and locale."""
    if not 1 <= p.days <= MAX_SLOT_DAYS:
        raise InvalidPayload(f"days is 1 to {MAX_SLOT_DAYS}.")
    async with ctx.services.db.transaction() as s:
        host_zone, _ = await availability_of(s, p.host_id)
    try:
        first = date.fromisoformat(p.from_date) if p.from_date else datetime.now(zone(host_zone)).date()
    except ValueError:
        raise InvalidPayload("from_date is a date such as 2027-03-08.", code="invalid_time") from None
    host_zone, slots = await booking.host_slots(ctx.services, p.host_id, first, p.days)
    return {
        "host_id": p.host_id,
        "host_timezone": host_zone,
        "slots": [
            {
                "starts_at": slot.starts_at.isoformat(),
                "ends_at": slot.ends_at.isoformat(),
                "free": slot.free,
                "host_local": slot.starts_at.astimezone(zone(host_zone)).isoformat(),
                "local": local_times(slot.starts_at, slot.ends_at, ctx.user.timezone, ctx.user.locale),
            }
            for slot in slots
        ],
    }


@router.on("session:book", Book)
async def on_session_book(ctx: EventContext, p: Book) -> dict[str, Any]:
    if len(p.title) > 200:
        raise InvalidPayload("A title has at most 200 characters.")
    row = await booking.book_one_to_one(ctx.services, ctx.user, p.host_id, parse_instant(p.starts_at), p.title)
    async with ctx.services.db.transaction() as s:
        info = await readers(s, [row.host_id])
    await notify(ctx.services, "session:booked", row, [row.host_id], info, {"by": ctx.user.id})
    return {"session": _caller_view(ctx, row)}


@router.on("session:schedule_group", ScheduleGroup, roles=GROUP_SCHEDULER_ROLES)
async def on_session_schedule_group(ctx: EventContext, p: ScheduleGroup) -> dict[str, Any]:
    if len(p.title) > 200 or len(p.exceptions) > 60:
        raise InvalidPayload("A title has at most 200 characters and a series at most 60 exceptions.")
    tz_name = p.timezone or ctx.user.timezone
    zone(tz_name)
    rows = await booking.schedule_group(ctx.services, ctx.user, p.room_id, parse_instant(p.starts_at), p.duration_minutes,
                                        p.title, p.weekly_count, p.exceptions, tz_name)
    async with ctx.services.db.transaction() as s:
        people = await participant_ids(s, rows[0])
        info = await readers(s, people)
    others = [uid for uid in people if uid != ctx.user.id]
    for row in rows:
        await notify(ctx.services, "session:scheduled", row, others, info, {"by": ctx.user.id})
    return {"sessions": [_caller_view(ctx, row) for row in rows]}


@router.on("session:cancel", Cancel)
async def on_session_cancel(ctx: EventContext, p: Cancel) -> dict[str, Any]:
    row, people = await booking.cancel_session(ctx.services, ctx.user, p.session_id, p.reason)
    async with ctx.services.db.transaction() as s:
        info = await readers(s, people)
    title = row.title or "…"
    await notify(ctx.services, "session:cancelled", row, [u for u in people if u != ctx.user.id], info,
                 {"by": ctx.user.id, "reason": p.reason[:200]},
                 lambda t, _tz, _loc: t('Your session "{title}" was cancelled.', title=title))
    return {"session": _caller_view(ctx, row)}


@router.on("session:reschedule", Reschedule)
async def on_session_reschedule(ctx: EventContext, p: Reschedule) -> dict[str, Any]:
    row, previous, people = await booking.reschedule_session(ctx.services, ctx.user, p.session_id, parse_instant(p.starts_at))
    async with ctx.services.db.transaction() as s:
        info = await readers(s, people)
    title, starts = row.title or "…", as_utc(row.starts_at)
    await notify(ctx.services, "session:rescheduled", row, [u for u in people if u != ctx.user.id], info,
                 {"by": ctx.user.id, "previous_starts_at": previous.isoformat()},
                 lambda t, tz, loc: t('Your session "{title}" was moved to {when}.', title=title,
                                      when=format_datetime_for(starts, tz, loc, "medium")))
    return {"session": _caller_view(ctx, row)}


@router.on("session:list", SessionList)
async def on_session_list(ctx: EventContext, p: SessionList) -> dict[str, Any]:
    """The caller's sessions (as mentor, mentee or group member) starting after ``after``."""
    after = parse_instant(p.after) if p.after else datetime.now(timezone.utc) - timedelta(days=7)
    limit = max(1, min(p.limit, 500))
    async with ctx.services.db.transaction() as s:
        group_rooms = select(Membership.room_id).join(Room, Room.id == Membership.room_id).where(
            Membership.user_id == ctx.user.id, Room.kind == "group")
        rows = await s.scalars(
            select(ScheduledSession).where(
                ScheduledSession.starts_at >= after,
                or_(ScheduledSession.host_id == ctx.user.id, ScheduledSession.mentee_id == ctx.user.id,
                    (ScheduledSession.kind == "group") & ScheduledSession.room_id.in_(group_rooms)),
            ).order_by(ScheduledSession.starts_at).limit(limit)
        )
        return {"sessions": [_caller_view(ctx, row) for row in rows]}


@router.on("session:join", SessionRef)
async def on_session_join(ctx: EventContext, p: SessionRef) -> dict[str, Any]:
    """Enter the session's room: refused with ``join_window_closed`` before the window opens."""
    row, changed = await lifecycle.join_session(ctx.services, ctx.user, p.session_id)
    await ctx.services.sio.enter_room(ctx.sid, socket_room(row.room_id), namespace=ctx.namespace)
    if changed:
        async with ctx.services.db.transaction() as s:
            people = await participant_ids(s, row)
            info = await readers(s, people)
        await notify(ctx.services, "session:status", row, people, info)
    return {"session": _caller_view(ctx, row), "room_id": row.room_id}


@router.on("session:end", SessionRef)
async def on_session_end(ctx: EventContext, p: SessionRef) -> dict[str, Any]:
    row = await lifecycle.end_session(ctx.services, ctx.user, p.session_id)
    async with ctx.services.db.transaction() as s:
        people = await participant_ids(s, row)
        info = await readers(s, people)
    await notify(ctx.services, "session:status", row, people, info)
    return {"session": _caller_view(ctx, row)}


@router.on("calendar:feed_url")
async def on_calendar_feed_url(ctx: EventContext, _p: Any) -> dict[str, Any]:
    return {"url": feed_url(ctx.services, await feed_secret(ctx.services, ctx.user.id))}


@router.on("calendar:revoke_feed")
async def on_calendar_revoke_feed(ctx: EventContext, _p: Any) -> dict[str, Any]:
    """Rotate the secret: the old URL stops working at once; the ack carries the new one."""
    return {"url": feed_url(ctx.services, await feed_secret(ctx.services, ctx.user.id, rotate=True))}


@routes.get("/api/calendar/{secret}.ics")
async def calendar_feed(request: web.Request) -> web.Response:
    body = await render_feed(request.app[SERVICES], request.match_info["secret"])
    if body is None:
        raise NotFound("No calendar at this address.")
    return web.Response(body=body, content_type="text/calendar", charset="utf-8",
                        headers={"Cache-Control": "private, max-age=300", "Referrer-Policy": "no-referrer"})
