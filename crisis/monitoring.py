"""Safety monitoring of chat rooms: the scan of every message before it is fanned out, and the
room's recorded consent to that scan.

A text message is graded before the room's send lock is taken (a ``pre_send`` hook of the
message service), so a slow scan or the machine translation of a language without a lexicon never
holds up anyone else's message. What the grade asks for runs once the message is stored and before
anyone else sees it: from tier 1 the writer gets crisis lines and a few words in their language at
once, and the room's mentors and leaders get a gentle flag; from tier 2 an alert is stored first
and only then pushed to the responder console. Risk that builds over a writer's last messages
counts too (``crisis.conversation``).

Fail safe: a scan that fails is retried; an alert that cannot be stored is retried; if either
still fails, the message is marked ``review`` for every reader and counted — never fanned out as
if it had been scanned. A message in a language monitoring cannot read is marked ``unscanned``.

Consent: ``Room.safety_monitoring`` is on for every new room and shown in every room view. Any
member may turn it back on; only professionals and administrators may turn it off, and each
change is audited and announced to the members.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from typing import TYPE_CHECKING, Any, AsyncIterator

import msgspec
from aiohttp import web
from babel import Locale
from prometheus_client import Counter
from sqlalchemy import select, update

from crisis import alerts, safety_plans
from crisis.conversation import ConversationWindows
from crisis.coverage import SCAN_LANGUAGE, scan_coverage
from crisis.detector import SUPPORTED_LANGUAGES, Detection, detect, detect_conversation
from crisis.resources import ALERT_TIER, crisis_resources
from server.chat.message_hooks import SAFETY_REVIEW, SAFETY_UNSCANNED
from server.chat.room_access import member_ids, require_member, room_view
from server.core.audit import record_audit
from server.core.errors import Forbidden, NotFound
from server.core.roles import ADMIN, LEADER, MENTOR, PROFESSIONAL, RESPONDER, ROOM_MODERATORS
from server.services import SERVICES
from server.storage.models import Membership, Message, Room, User
from server.transport.addressing import user_room
from server.transport.events import EventContext, EventRouter
from server.transport.httpio import json_response

if TYPE_CHECKING:
    from server.chat.message_hooks import OutgoingMessage, SentMessage
    from server.services import Services

log = logging.getLogger("crisis.monitoring")
router = EventRouter()
routes = web.RouteTableDef()

# Who in a room is told, gently, that someone there may be struggling.
FLAGGED_USER_ROLES = (MENTOR, LEADER, PROFESSIONAL, ADMIN, RESPONDER)
FLAGGED_ROOM_ROLES = tuple(ROOM_MODERATORS)

SCAN_ATTEMPTS = 3
# Pauses between tries to store an alert: long enough for a busy database to recover, short
# enough that the room's next message (waiting on its lock) is not held for long.
ALERT_RETRY_PAUSES = (0.05, 0.25)
_KNOWN_LANGUAGES = frozenset(Locale("en").languages)

UNSCANNED_MESSAGES = Counter(
    "mentalverse_crisis_unscanned_messages_total",
    "Messages in monitored rooms that no lexicon or translation could read.", ["language"])
SCAN_FAILURES = Counter(
    "mentalverse_crisis_failures_total",
    "Tries of the crisis scan or of storing its alert that failed, retried or not.", ["stage"])
MARKED_FOR_REVIEW = Counter(
    "mentalverse_crisis_review_messages_total",
    "Messages fanned out marked for review because their scan or alert failed.")


class SafetyMonitoring(msgspec.Struct, forbid_unknown_fields=True):
    room_id: str
    on: bool


def setup(services: "Services") -> None:
    # The first detection loads the lexicons and the language model (about a second here), and the
    # first resources load the catalogs and hotlines: pay that at start-up, not on a risky message.
    detect("starting up")
    crisis_resources(country="", locale="en", tier=ALERT_TIER, responders_alerted=True)


@contextlib.asynccontextmanager
async def lifespan(services: "Services") -> AsyncIterator[None]:
    covered = await scan_coverage(services)
    fields = {"fields": covered.to_dict()}
    if covered.not_covered:
        log.warning("crisis.languages_not_scanned", extra=fields)
    else:
        log.info("crisis.coverage", extra=fields)
    yield


@routes.get("/api/safety/coverage")
async def coverage_route(request: web.Request) -> web.Response:
    """What safety monitoring reads, for the consent text every room shows (public: no secret)."""
    return json_response({"ok": True, **(await scan_coverage(request.app[SERVICES])).to_dict()})


class SafetyScanner:
    """The pre-send hook; it owns the writers' conversation windows of this process."""

    def __init__(self) -> None:
        self.windows = ConversationWindows()

    async def __call__(self, services: "Services", outgoing: "OutgoingMessage") -> Any:
        detection = None
        for attempt in range(1, SCAN_ATTEMPTS + 1):
            try:
                detection = await self._grade(services, outgoing)
                break
            except Exception:
                SCAN_FAILURES.labels("scan").inc()
                log.exception("crisis.scan_failed", extra={"fields": {"room_id": outgoing.room_id, "attempt": attempt}})
        if detection is None:
            outgoing.safety = SAFETY_REVIEW
        # Looked up here, off the room's lock, and only for a message that will show the card.
        has_plan = detection is not None and detection.tier >= 1 and await _has_plan(services, outgoing.sender.id)
        return functools.partial(self.act_on_scan, detection=detection, has_safety_plan=has_plan)

    async def _grade(self, services: "Services", outgoing: "OutgoingMessage") -> Detection:
        language = outgoing.language or outgoing.sender.locale or None
        detection = detect(outgoing.body, language)
        text = outgoing.body
        if detection.language not in SUPPORTED_LANGUAGES:
            english = (await services.translation.english(outgoing.body, detection.language)
                       if detection.language else None)
            if english is None:
                outgoing.safety = SAFETY_UNSCANNED
                return detection
            detection, text = detect(english, SCAN_LANGUAGE, trust_language=True), english
        recent = self.windows.add(outgoing.room_id, outgoing.sender.id, text, detection)
        if detection.tier < ALERT_TIER and len(recent) > 1:
            return detect_conversation([t for t, _ in recent], detection.language, graded=[d for _, d in recent])
        return detection

    async def act_on_scan(self, services: "Services", sent: "SentMessage", *, detection: Detection | None,
                          has_safety_plan: bool) -> None:
        """Act on one stored message's grade; runs before ``message:new`` goes out."""
        if not sent.room.safety_monitoring:
            self.windows.forget(sent.room.id, sent.sender.id)
            if sent.view["safety"] is not None:
                await _set_safety(services, sent, None)
            return
        await act_on_grade(services, sent, detection, has_safety_plan)


async def act_on_grade(services: "Services", sent: "SentMessage", detection: Detection | None,
                       has_safety_plan: bool) -> None:
    """Offer help, flag and alert as the grade of a message in a monitored room asks."""
    if sent.view["safety"] == SAFETY_UNSCANNED:
        UNSCANNED_MESSAGES.labels(_language_label(sent.view["language"])).inc()
        return
    if detection is None:
        MARKED_FOR_REVIEW.inc()
        return
    if detection.tier == 0:
        return
    about = {"room_id": sent.room.id, "message_id": sent.view["id"], "seq": sent.view["seq"]}
    alert = await _store_alert(services, sent, detection) if detection.tier >= ALERT_TIER else None
    if alert is not None:
        await services.crisis.notify_level("crisis:alert", alert, 0)
    elif detection.tier >= ALERT_TIER:
        MARKED_FOR_REVIEW.inc()
        await _set_safety(services, sent, SAFETY_REVIEW)
    resources = crisis_resources(country=sent.sender.country, locale=sent.sender.locale, tier=detection.tier,
                                 responders_alerted=alert is not None,
                                 has_safety_plan=has_safety_plan)
    await services.sio.emit("crisis:resources", {**about, **resources}, to=user_room(sent.sender.id))
    flag = {**about, "tier": detection.tier, "author_id": sent.sender.id, "responders_alerted": alert is not None}
    for uid in await _flag_recipients(services, sent.room.id, sent.sender.id):
        await services.sio.emit("crisis:flag", flag, to=user_room(uid))


async def _store_alert(services: "Services", sent: "SentMessage", detection: Detection) -> dict[str, Any] | None:
    """The stored alert's view, after a few tries; None when it could not be stored."""
    for attempt, pause in enumerate((*ALERT_RETRY_PAUSES, None), start=1):
        try:
            return await alerts.raise_alert(services, sent, detection)
        except Exception:
            SCAN_FAILURES.labels("alert").inc()
            log.exception("crisis.alert_failed", extra={"fields": {"room_id": sent.room.id, "attempt": attempt}})
        if pause is not None:
            await asyncio.sleep(pause)
    return None


async def _set_safety(services: "Services", sent: "SentMessage", safety: str | None) -> None:
    """Change a stored message's marker; readers of this fan-out see it even if the write fails."""
    sent.view["safety"] = safety
    try:
        async with services.db.transaction() as s:
            await s.execute(update(Message).where(Message.id == sent.view["id"]).values(safety=safety))
    except Exception:
        log.exception("crisis.mark_failed", extra={"fields": {"room_id": sent.room.id, "safety": safety}})


async def _has_plan(services: "Services", user_id: str) -> bool:
    """Whether the card can point to the writer's plan; a failed look-up must not cost the alert."""
    try:
        return await safety_plans.has_plan(services, user_id)
    except Exception:
        log.exception("crisis.safety_plan_lookup_failed")
        return False


def _language_label(code: str) -> str:
    """A metric label from a bounded set, whatever code a client sent."""
    return code if code in _KNOWN_LANGUAGES else "other"


async def _flag_recipients(services: "Services", room_id: str, author_id: str) -> list[str]:
    """Mentors, leaders and professionals in the room, never the writer or fellow mentees."""
    async with services.db.transaction() as s:
        rows = await s.execute(
            select(User.id, User.role, Membership.role)
            .join(Membership, Membership.user_id == User.id)
            .where(Membership.room_id == room_id, User.id != author_id)
        )
        return [uid for uid, role, room_role in rows if role in FLAGGED_USER_ROLES or room_role in FLAGGED_ROOM_ROLES]


@router.on("room:safety_monitoring", SafetyMonitoring)
async def on_safety_monitoring(ctx: EventContext, p: SafetyMonitoring) -> dict[str, Any]:
    """Turn the room's safety monitoring on (any member) or off (professionals and admins only).

    In a private room the scan runs on each member's own device, so the switch is the members'
    consent: any member may turn it off as well as on.
    """
    supervisor = ctx.user.role in alerts.SUPERVISOR_ROLES
    services = ctx.services
    async with services.db.transaction() as s:
        if supervisor:
            room = await s.get(Room, p.room_id) if len(p.room_id) <= 64 else None
            if room is None:
                raise NotFound("That room does not exist.")
        else:
            room, _membership = await require_member(s, p.room_id, ctx.user.id)
            if not p.on and not room.private:
                raise Forbidden("Only a professional or an administrator can turn safety monitoring off.", code="monitoring_locked")
        changed = room.safety_monitoring != p.on
        if changed:
            room.safety_monitoring = p.on
            await record_audit(s, ctx.user.id, "room.safety_monitoring", room_id=room.id, detail={"on": p.on})
            await s.flush()
        view = await room_view(s, room)
        members = await member_ids(s, room.id)
    if changed:
        notice = {"room_id": room.id, "safety_monitoring": p.on, "changed_by": ctx.user.public()}
        await services.sio.emit("room:safety_monitoring", notice, to=[user_room(uid) for uid in members])
    return {"room": view}
