"""Member devices: a browser's public identity key, and the devices of a private room's members.

A device registers the public half of its ECDH P-256 identity key (SPKI, base64); the private half
is a non-extractable CryptoKey that never leaves the browser. Registering the same key again
answers the same device, so a reload finds itself.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

import msgspec
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from server.chat.room_access import RoomOnly, require_member
from server.core.errors import Conflict, InvalidPayload
from server.core.i18n import N_
from server.storage.models import Device, Membership, Room, new_id
from server.transport.events import EventContext, EventRouter

router = EventRouter()

MAX_DEVICES_PER_USER = 20
DEVICE_REGISTER_RATE = "30/hour"
# A P-256 public key in SPKI form is 91 bytes; anything far from that is not one.
SPKI_BYTES = (80, 100)

BAD_KEY = N_("That is not a device's public identity key.")
TOO_MANY_DEVICES = N_("You have registered many devices; sign out of one you no longer use.")
NOT_PRIVATE = N_("This room is not private.")
REGISTERING_TOO_OFTEN = N_("You have registered devices too often; please wait.")


class RegisterDevice(msgspec.Struct, forbid_unknown_fields=True):
    identity_key: str


def device_view(row: Device) -> dict[str, Any]:
    return {"id": row.id, "user_id": row.user_id, "identity_key": row.identity_key}


def _checked_key(text: str) -> str:
    try:
        raw = base64.b64decode(text, validate=True) if len(text) <= 200 else b""
    except (binascii.Error, ValueError):
        raw = b""
    if not SPKI_BYTES[0] <= len(raw) <= SPKI_BYTES[1]:
        raise InvalidPayload(BAD_KEY, code="invalid_identity_key")
    return text


async def require_private_member(session: AsyncSession, room_id: str, user_id: str) -> Room:
    """A private room the caller is a member of (``not_private`` for any other room of theirs)."""
    room, _m = await require_member(session, room_id, user_id)
    if not room.private:
        raise Conflict(NOT_PRIVATE, code="not_private")
    return room


async def member_devices(session: AsyncSession, room_id: str) -> list[Device]:
    """Every registered device of the room's current members."""
    return list(await session.scalars(
        select(Device).join(Membership, (Membership.user_id == Device.user_id) & (Membership.room_id == room_id))
        .order_by(Device.created_at, Device.id)
    ))


@router.on("device:register", RegisterDevice)
async def on_register(ctx: EventContext, p: RegisterDevice) -> dict[str, Any]:
    key = _checked_key(p.identity_key)
    services = ctx.services
    async with services.db.read() as s:
        existing = await s.scalar(select(Device).where(Device.user_id == ctx.user.id, Device.identity_key == key))
        if existing is not None:
            return {"device": device_view(existing)}
    await services.limiter.check(DEVICE_REGISTER_RATE, "device-register", ctx.user.id, message=REGISTERING_TOO_OFTEN)
    try:
        async with services.db.transaction() as s:
            count = await s.scalar(select(func.count()).select_from(Device).where(Device.user_id == ctx.user.id))
            if count >= MAX_DEVICES_PER_USER:
                raise Conflict(TOO_MANY_DEVICES, code="too_many_devices")
            row = Device(id=new_id(), user_id=ctx.user.id, identity_key=key)
            s.add(row)
            await s.flush()
            return {"device": device_view(row)}
    except IntegrityError:
        # The same key registered at the same moment from a second tab: that one is this device.
        async with services.db.read() as s:
            row = await s.scalar(select(Device).where(Device.user_id == ctx.user.id, Device.identity_key == key))
            return {"device": device_view(row)}


@router.on("room:devices", RoomOnly)
async def on_room_devices(ctx: EventContext, p: RoomOnly) -> dict[str, Any]:
    """The devices a sender shares its room key with: those of the room's members, now."""
    async with ctx.services.db.read() as s:
        room = await require_private_member(s, p.room_id, ctx.user.id)
        return {"room_id": room.id, "devices": [device_view(d) for d in await member_devices(s, room.id)]}
