"""Crisis alerts found on the writer's own device, for private rooms.

A private room's messages are sealed before they leave the browser, so the server cannot scan
them. With the room's consent switch on, the writer's device runs the same detector (exported by
``crisis.browser_model``) on their own message before sealing it; a finding of tier 1 or more
sends ``crisis:device_alert`` with the tier and the excerpt only — never the conversation, never
the message. The server checks that the caller wrote that stored message in a private room with
consent on, limits the rate, and then the finding takes the same path as a server scan
(``monitoring.act_on_grade``): from tier 2 an alert stored first and pushed to responders, with
the escalation ladder, claim and reach-out unchanged; at once, the writer's crisis lines in their
language.
"""

from __future__ import annotations

from typing import Any

import msgspec
from sqlalchemy import select

from crisis import monitoring, safety_plans
from crisis.alerts import EXCERPT_MAX_CHARS
from crisis.detector import Detection
from server.chat.message_hooks import SentMessage
from server.chat.room_access import require_member
from server.core.errors import Conflict, InvalidPayload, NotFound
from server.core.i18n import N_
from server.storage.models import CrisisAlert, Message
from server.transport.events import EventContext, EventRouter

router = EventRouter()

DEVICE_ALERT_RATE = "20/hour"
DEVICE_REASON = "found by the writer's own device in a private room"

NOT_PRIVATE = N_("Only a private room's messages are checked on the device.")
NO_CONSENT = N_("Safety monitoring is off in this room.")
NOT_YOUR_MESSAGE = N_("No such message of yours in this room.")
ALERTING_TOO_OFTEN = N_("Too many safety alerts from this device; please wait.")
BAD_TIER = N_("A device finding has a tier from 1 to 3 and an excerpt of at most 160 characters.")


class DeviceAlert(msgspec.Struct, forbid_unknown_fields=True):
    room_id: str
    message_id: str
    tier: int
    excerpt: str
    language: str = ""


@router.on("crisis:device_alert", DeviceAlert)
async def on_device_alert(ctx: EventContext, p: DeviceAlert) -> dict[str, Any]:
    if not 1 <= p.tier <= 3 or not p.excerpt.strip() or len(p.excerpt) > EXCERPT_MAX_CHARS or len(p.language) > 8:
        raise InvalidPayload(BAD_TIER, code="invalid_finding")
    services = ctx.services
    async with services.db.read() as s:
        room, _m = await require_member(s, p.room_id, ctx.user.id)
        if not room.private:
            raise Conflict(NOT_PRIVATE, code="not_private")
        if not room.safety_monitoring:
            raise Conflict(NO_CONSENT, code="monitoring_off")
        message = await s.get(Message, p.message_id) if len(p.message_id) <= 32 else None
        if message is None or message.room_id != room.id or message.sender_id != ctx.user.id or message.deleted_at:
            raise NotFound(NOT_YOUR_MESSAGE)
        already = await s.scalar(select(CrisisAlert.id).where(CrisisAlert.message_id == message.id).limit(1))
    if already is not None:
        # A retried report of a message that already alerted: the alert stands, nothing is sent twice.
        return {"alerted": True}
    await services.limiter.check(DEVICE_ALERT_RATE, "device-alert", ctx.user.id, message=ALERTING_TOO_OFTEN)
    language = p.language or ctx.user.locale or ""
    detection = Detection(p.tier, language, (), (DEVICE_REASON,), language_source="caller", text=p.excerpt)
    view = {"id": message.id, "seq": message.seq, "safety": None, "language": language}
    has_plan = await safety_plans.has_plan(services, ctx.user.id)
    await monitoring.act_on_grade(services, SentMessage(room, view, "", ctx.user), detection, has_plan)
    return {"alerted": p.tier >= 2}
