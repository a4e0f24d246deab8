"""Inbound webhook: an external matcher announces a new mentor–mentee pair; we open their room.

``POST /api/matching/matches`` with ``{"mentor_id", "mentee_id"}``, signed as described in
``signature.py`` with ``matching_secret``. Refused (401) when the signature is wrong or the
timestamp is outside ``matching_webhook_tolerance_seconds``; disabled (503) without a secret.
Announcing the same pair again is harmless: their existing direct room is returned.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import msgspec
from aiohttp import web
from sqlalchemy import select

from server.accounts.blocks import refuse_if_blocked
from server.core.audit import record_audit
from server.core.errors import InvalidPayload, NotFound, PayloadTooLarge, Unavailable
from server.core.roles import MENTEE, MENTOR_ROLES
from server.scheduling.booking import direct_room_between, find_direct_room
from server.services import SERVICES
from server.storage.models import User
from server.transport.addressing import user_room
from server.transport.httpio import json_response
from server.transport.validation import decode_json, parse

from .signature import SIGNATURE_HEADER, TIMESTAMP_HEADER, verify

if TYPE_CHECKING:
    from server.services import Services

routes = web.RouteTableDef()


class NewMatch(msgspec.Struct, forbid_unknown_fields=True):
    mentor_id: str
    mentee_id: str
    match_id: str = ""  # the external matcher's own id, kept in the audit log


async def open_room_for_match(services: "Services", match: NewMatch) -> tuple[str, bool]:
    """The pair's direct room (opened if new) and whether this call created it."""
    async with services.db.transaction() as s:
        people = {u.id: u for u in await s.scalars(select(User).where(User.id.in_([match.mentor_id, match.mentee_id])))}
        mentor, mentee = people.get(match.mentor_id), people.get(match.mentee_id)
        if mentor is None or mentee is None or mentor.banned or mentee.banned:
            raise NotFound("One of those people does not exist.")
        if mentor.role not in MENTOR_ROLES or mentee.role != MENTEE:
            raise InvalidPayload("A match pairs a mentor (or leader) with a mentee.", code="invalid_match")
        await refuse_if_blocked(s, mentor.id, mentee.id)
    before = await find_direct_room(services, match.mentor_id, match.mentee_id)
    room_id = before or await direct_room_between(services, match.mentor_id, match.mentee_id)
    async with services.db.transaction() as s:
        await record_audit(s, None, "matching.match", room_id=room_id, target_id=match.mentee_id,
                           detail={"mentor_id": match.mentor_id, "match_id": match.match_id[:64], "created": before is None})
    return room_id, before is None


@routes.post("/api/matching/matches")
async def matching_webhook(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    settings = services.settings
    if not settings.matching_secret:
        raise Unavailable("The matching webhook is not configured.", code="webhook_disabled")
    raw = await request.read()
    if len(raw) > settings.max_payload_bytes:
        raise PayloadTooLarge("The request body is too large.")
    verify(settings.matching_secret, request.headers.get(TIMESTAMP_HEADER), request.headers.get(SIGNATURE_HEADER), raw,
           settings.matching_webhook_tolerance_seconds)
    match = parse(NewMatch, decode_json(raw))
    room_id, created = await open_room_for_match(services, match)
    if created:
        for uid, other in ((match.mentor_id, match.mentee_id), (match.mentee_id, match.mentor_id)):
            await services.sio.emit("matching:matched", {"room_id": room_id, "user_id": other}, to=user_room(uid))
    return json_response({"ok": True, "room_id": room_id, "created": created}, 201 if created else 200)
