"""Safety monitoring of chat rooms: the scan of every message before it is fanned out, and the
room's recorded consent to that scan.

A message in a monitored room is graded by the detector after it is durably stored and before
anyone else sees it (a ``before_fanout`` hook of the message service). From tier 1 the writer gets
crisis lines and a few words in their language at once, and the room's mentors and leaders get a
gentle flag; from tier 2 an alert is stored first and only then pushed to the responder console.

Consent: ``Room.safety_monitoring`` is on for every new room and shown in every room view. Any
member may turn it back on; only professionals and administrators may turn it off, and each
change is audited and announced to the members.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import msgspec
from sqlalchemy import select

from crisis import alerts
from crisis.detector import detect
from crisis.resources import ALERT_TIER, crisis_resources
from server.audit import record_audit
from server.errors import Forbidden, NotFound
from server.events import EventContext, EventRouter
from server.rooms import member_ids, require_member, room_view, user_room
from server.storage.models import Membership, Room, User
from server.translation.delivery import english_for_scanning

if TYPE_CHECKING:
    from server.messages import SentMessage
    from server.services import Services

log = logging.getLogger("crisis.monitoring")
router = EventRouter()

# Who in a room is told, gently, that someone there may be struggling.
FLAGGED_USER_ROLES = ("mentor", "leader", "professional", "admin", "responder")
FLAGGED_ROOM_ROLES = ("leader", "co-leader")


class SafetyMonitoring(msgspec.Struct, forbid_unknown_fields=True):
    room_id: str
    on: bool


def setup(services: "Services") -> None:
    # The first detection loads the lexicons and the language model (about a second here), and the
    # first resources load the catalogs and hotlines: pay that at start-up, not on a risky message.
    detect("starting up")
    crisis_resources(country="", locale="en", tier=ALERT_TIER, responders_alerted=True)
    services.messages.before_fanout.append(scan_before_fanout)


async def scan_before_fanout(services: "Services", sent: "SentMessage") -> None:
    """Grade one stored message; act on tiers 1 and up. Runs before ``message:new`` goes out."""
    if not sent.room.safety_monitoring or sent.view["kind"] != "text":
        return
    language = sent.view["language"] or sent.sender.locale or None
    detection = detect(sent.body, language)
    if detection.tier == 0 and language:
        # A language the lexicons do not cover: scan its English translation too.
        english = await english_for_scanning(services, sent.body, language)
        if english is not None:
            detection = detect(english, "en", trust_language=True)
    if detection.tier == 0:
        return
    about = {"room_id": sent.room.id, "message_id": sent.view["id"], "seq": sent.view["seq"]}
    alert = None
    if detection.tier >= ALERT_TIER:
        try:
            alert = await alerts.raise_alert(services, sent, detection)
        except Exception:
            # The writer must still get the crisis lines; the failure is logged loudly.
            log.exception("crisis.alert_failed", extra={"fields": {"room_id": sent.room.id}})
    if alert is not None:
        await services.crisis.notify_level("crisis:alert", alert, 0)
    resources = crisis_resources(country=sent.sender.country, locale=sent.sender.locale, tier=detection.tier,
                                 responders_alerted=alert is not None)
    await services.sio.emit("crisis:resources", {**about, **resources}, to=user_room(sent.sender.id))
    flag = {**about, "tier": detection.tier, "author_id": sent.sender.id, "responders_alerted": alert is not None}
    for uid in await _flag_recipients(services, sent.room.id, sent.sender.id):
        await services.sio.emit("crisis:flag", flag, to=user_room(uid))


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
    """Turn the room's safety monitoring on (any member) or off (professionals and admins only)."""
    supervisor = ctx.user.role in alerts.SUPERVISOR_ROLES
    if not p.on and not supervisor:
        raise Forbidden("Only a professional or an administrator can turn safety monitoring off.", code="monitoring_locked")
    services = ctx.services
    async with services.db.transaction() as s:
        if supervisor:
            room = await s.get(Room, p.room_id) if len(p.room_id) <= 64 else None
            if room is None:
                raise NotFound("That room does not exist.")
        else:
            room, _membership = await require_member(s, p.room_id, ctx.user.id)
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
