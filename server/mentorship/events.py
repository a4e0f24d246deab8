"""The mentorship feature's Socket.IO events and its expiry loop.

Handlers parse, authorize and call requests / feedback / reports and the block store; they decide
nothing themselves, and they tell the other person what changed, in that person's language.
The loop in every process closes requests nobody answered in time (the database lets each close once).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING, Annotated, Any, AsyncIterator

import msgspec
from sqlalchemy import select

from server.accounts import blocks
from server.accounts.users import public_identity
from server.core.errors import InvalidPayload
from server.core.i18n import N_, gettext_for
from server.core.roles import ADMIN, MENTEE, MENTOR_ROLES
from server.matching.events import suggestions_for
from server.storage.models import Mentorship, User
from server.transport.addressing import user_room
from server.transport.events import EventContext, EventRouter

from . import feedback, reports, requests
from .requests import ACTIVE, DECLINED, mentorship_view, people

if TYPE_CHECKING:
    from server.services import Services

log = logging.getLogger("server.mentorship")
router = EventRouter()

# How many new suggestions come with a declined or expired request, or a change of mentor.
NEXT_SUGGESTIONS = 5
Id = Annotated[str, msgspec.Meta(max_length=64)]


class RequestMentor(msgspec.Struct, forbid_unknown_fields=True):
    mentor_id: str
    note: str = ""


class MentorshipRef(msgspec.Struct, forbid_unknown_fields=True):
    mentorship_id: str


class Answer(msgspec.Struct, forbid_unknown_fields=True):
    mentorship_id: str
    accept: bool


class UserRef(msgspec.Struct, forbid_unknown_fields=True):
    user_id: str


class Report(msgspec.Struct, forbid_unknown_fields=True):
    user_id: str
    reason: str
    text: str = ""
    room_id: str = ""  # a room the reporter is in; its messages (these, or the person's latest) are attached
    message_ids: Annotated[list[Id], msgspec.Meta(max_length=reports.MAX_MESSAGES)] = []


class ReportList(msgspec.Struct, forbid_unknown_fields=True):
    status: str = reports.OPEN


class Resolve(msgspec.Struct, forbid_unknown_fields=True):
    report_id: str
    outcome: str = ""


class Rate(msgspec.Struct, forbid_unknown_fields=True):
    session_id: str
    rating: int
    comment: str = ""


NOTICES: tuple[str, ...] = (
    N_("{name} would like you as their mentor."),
    N_("{name} accepted your request. Your conversation is open, and you can book a session in their free hours."),
    N_("{name} can't take on a new mentee right now. That is about their time, not about you. "
       "Here are other mentors who may be a good fit."),
    N_("{name} could not answer in time, so your request has closed. Here are other mentors who may be a good fit."),
    N_("The request from {name} has closed without an answer."),
    N_("{name} withdrew their request."),
    N_("Your mentorship with {name} has ended. You can look for another mentor at any time."),
    N_("Your mentorship with {name} has ended. Thank you for the support you gave."),
)


async def _tell(services: "Services", person: dict[str, Any], event: str, payload: dict[str, Any], notice: str,
                name: str) -> None:
    """Send one person an event with a sentence in their own language."""
    text = gettext_for(person["_locale"])(notice, name=name)
    await services.sio.emit(event, {**payload, "notice": text}, to=user_room(person["id"]))


async def _views(services: "Services", row: Mentorship) -> tuple[dict[str, dict[str, Any]], dict[str, Any], dict[str, Any]]:
    """(the two people, the mentor's view, the mentee's view)."""
    async with services.db.read() as s:
        who = await people(s, [row.mentor_id, row.mentee_id])
        return who, await mentorship_view(s, row, row.mentor_id, who), await mentorship_view(s, row, row.mentee_id, who)


async def _next_for(services: "Services", mentee_id: str) -> list[dict[str, Any]]:
    """New suggestions for a mentee whose request closed; an unavailable matcher sends none."""
    try:
        return await suggestions_for(services, await services.users.get(mentee_id), NEXT_SUGGESTIONS)
    except Exception:
        log.exception("mentorship.suggestions_failed")
        return []


async def _announce_end(services: "Services", row: Mentorship, by: str) -> None:
    """Tell the other side that it ended (never why: a change of mentor needs no explanation)."""
    who, mentor_view, mentee_view = await _views(services, row)
    other, view = (row.mentee_id, mentee_view) if by == row.mentor_id else (row.mentor_id, mentor_view)
    if other not in who or by not in who:
        return
    name = who[by]["display_name"]
    if row.status == requests.WITHDRAWN:
        notice = "{name} withdrew their request."
    elif other == row.mentee_id:
        notice = "Your mentorship with {name} has ended. You can look for another mentor at any time."
    else:
        notice = "Your mentorship with {name} has ended. Thank you for the support you gave."
    await _tell(services, who[other], "mentorship:ended", {"mentorship": view}, notice, name)


@router.on("match:request", RequestMentor, roles=(MENTEE,))
async def on_match_request(ctx: EventContext, p: RequestMentor) -> dict[str, Any]:
    """Ask a mentor, with a short note; holds one of their seats until answered or expired."""
    row = await requests.request_mentor(ctx.services, ctx.user, p.mentor_id, p.note)
    who, mentor_view, mentee_view = await _views(ctx.services, row)
    await _tell(ctx.services, who[row.mentor_id], "match:requested", {"mentorship": mentor_view},
                "{name} would like you as their mentor.", who[row.mentee_id]["display_name"])
    return {"mentorship": mentee_view}


@router.on("match:respond", Answer, roles=MENTOR_ROLES)
async def on_match_respond(ctx: EventContext, p: Answer) -> dict[str, Any]:
    """Accept (the conversation opens for both) or decline (the mentee hears it kindly and gets
    new suggestions without this mentor)."""
    row = await requests.answer_request(ctx.services, ctx.user, p.mentorship_id, p.accept)
    who, mentor_view, mentee_view = await _views(ctx.services, row)
    name = who[row.mentor_id]["display_name"]
    if row.status == ACTIVE:
        await _tell(ctx.services, who[row.mentee_id], "match:accepted", {"mentorship": mentee_view},
                    "{name} accepted your request. Your conversation is open, and you can book a session in their free hours.", name)
    elif row.status == DECLINED:
        await _tell(ctx.services, who[row.mentee_id], "match:declined",
                    {"mentorship": mentee_view, "matches": await _next_for(ctx.services, row.mentee_id)},
                    "{name} can't take on a new mentee right now. That is about their time, not about you. "
                    "Here are other mentors who may be a good fit.", name)
    return {"mentorship": mentor_view}


@router.on("mentorship:list")
async def on_mentorship_list(ctx: EventContext, _p: Any) -> dict[str, Any]:
    """My mentorships and requests (open first), and my recent sessions I may still rate."""
    async with ctx.services.db.read() as s:
        views = await requests.list_for(s, ctx.user.id)
    return {"mentorships": views, "to_rate": await feedback.sessions_to_rate(ctx.services, ctx.user)}


@router.on("mentorship:end", MentorshipRef)
async def on_mentorship_end(ctx: EventContext, p: MentorshipRef) -> dict[str, Any]:
    """End a mentorship (either side) or withdraw my request."""
    row = await requests.close_mentorship(ctx.services, ctx.user, p.mentorship_id)
    await _announce_end(ctx.services, row, ctx.user.id)
    async with ctx.services.db.read() as s:
        return {"mentorship": await mentorship_view(s, row, ctx.user.id)}


@router.on("mentorship:rematch", MentorshipRef)
async def on_mentorship_rematch(ctx: EventContext, p: MentorshipRef) -> dict[str, Any]:
    """Ask for a different mentor: this mentorship ends (the mentor is told only that it ended)
    and new suggestions come back, never with this mentor again."""
    row = await requests.close_mentorship(ctx.services, ctx.user, p.mentorship_id, "rematch")
    await _announce_end(ctx.services, row, ctx.user.id)
    matches = await suggestions_for(ctx.services, ctx.user, NEXT_SUGGESTIONS, also_exclude=frozenset({row.mentor_id}))
    async with ctx.services.db.read() as s:
        return {"mentorship": await mentorship_view(s, row, ctx.user.id), "matches": matches}


@router.on("mentor:stats", roles=MENTOR_ROLES)
async def on_mentor_stats(ctx: EventContext, _p: Any) -> dict[str, Any]:
    return {"stats": await feedback.mentor_stats(ctx.services, ctx.user.id)}


@router.on("feedback:give", Rate)
async def on_feedback_give(ctx: EventContext, p: Rate) -> dict[str, Any]:
    await feedback.give_feedback(ctx.services, ctx.user, p.session_id, p.rating, p.comment)
    return {}


@router.on("feedback:list", UserRef, roles=(ADMIN,))
async def on_feedback_list(ctx: EventContext, p: UserRef) -> dict[str, Any]:
    return {"feedback": await feedback.feedback_about(ctx.services, ctx.user.id, p.user_id)}


@router.on("user:block", UserRef)
async def on_user_block(ctx: EventContext, p: UserRef) -> dict[str, Any]:
    """Block someone: no messages, calls, bookings or requests between us; an open mentorship
    or request between us ends (they are told it ended, not that they were blocked)."""
    async with ctx.services.db.transaction() as s:
        await blocks.block(s, ctx.user, p.user_id)
        open_ids = await requests.open_between(s, ctx.user.id, p.user_id)
    for mentorship_id in open_ids:
        row = await requests.close_mentorship(ctx.services, ctx.user, mentorship_id, "blocked")
        await _announce_end(ctx.services, row, ctx.user.id)
    return {"blocked": True}


@router.on("user:unblock", UserRef)
async def on_user_unblock(ctx: EventContext, p: UserRef) -> dict[str, Any]:
    async with ctx.services.db.transaction() as s:
        return {"unblocked": await blocks.unblock(s, ctx.user, p.user_id)}


@router.on("user:blocks")
async def on_user_blocks(ctx: EventContext, _p: Any) -> dict[str, Any]:
    """Whom I blocked (how they are shown to me), oldest first."""
    async with ctx.services.db.read() as s:
        ids = await blocks.blocked_by(s, ctx.user.id)
        rows = {r.id: r for r in await s.scalars(select(User).where(User.id.in_(ids)))} if ids else {}
    return {"users": [public_identity(i, rows[i].username, rows[i].display_name, rows[i].role, rows[i].pseudonym)
                      for i in ids if i in rows]}


@router.on("user:report", Report)
async def on_user_report(ctx: EventContext, p: Report) -> dict[str, Any]:
    """Report someone to staff; the messages named (or their latest in the room) go with it."""
    report = await reports.file_report(ctx.services, ctx.user, p.user_id, p.reason, p.text, p.room_id, p.message_ids)
    return {"report_id": report.id}


@router.on("report:list", ReportList, roles=(ADMIN,))
async def on_report_list(ctx: EventContext, p: ReportList) -> dict[str, Any]:
    if p.status not in (reports.OPEN, reports.RESOLVED):
        raise InvalidPayload("status is open or resolved.")
    return {"reports": await reports.reports_for_staff(ctx.services, ctx.user.id, p.status)}


@router.on("report:resolve", Resolve, roles=(ADMIN,))
async def on_report_resolve(ctx: EventContext, p: Resolve) -> dict[str, Any]:
    await reports.resolve_report(ctx.services, ctx.user.id, p.report_id, p.outcome)
    return {}


@contextlib.asynccontextmanager
async def lifespan(services: "Services") -> AsyncIterator[None]:
    stop = asyncio.Event()
    task = asyncio.create_task(_expire_requests(services, stop))
    try:
        yield
    finally:
        stop.set()
        await task


async def _expire_requests(services: "Services", stop: asyncio.Event) -> None:
    while not stop.is_set():
        try:
            for row in await requests.expire_due(services):
                who, mentor_view, mentee_view = await _views(services, row)
                if row.mentee_id in who and row.mentor_id in who:
                    await _tell(services, who[row.mentee_id], "match:expired",
                                {"mentorship": mentee_view, "matches": await _next_for(services, row.mentee_id)},
                                "{name} could not answer in time, so your request has closed. "
                                "Here are other mentors who may be a good fit.", who[row.mentor_id]["display_name"])
                    await _tell(services, who[row.mentor_id], "match:expired", {"mentorship": mentor_view},
                                "The request from {name} has closed without an answer.", who[row.mentee_id]["display_name"])
        except Exception:
            log.exception("mentorship.expiry_failed")
        try:
            await asyncio.wait_for(stop.wait(), services.settings.mentorship_tick_seconds)
        except asyncio.TimeoutError:
            pass

