"""Key shares: a sender's room key, encrypted by its device to one member device, relayed as a
to-device message.

The server stores each share until its target device acknowledges it, pushes it at once to the
target's connections (``keys:incoming``), and answers ``keys:fetch`` for a device that was away.
It checks who may send to whom — the sending device is the caller's, every target is a device of
a current member of the private room — and cannot read what it relays. A removed member's
devices are no longer targets, so they never receive a key made after their removal.
"""

from __future__ import annotations

from typing import Any

import msgspec
from sqlalchemy import delete, select

from server.core.errors import Forbidden, InvalidPayload
from server.core.i18n import N_
from server.storage.models import Device, KeyShare, new_id
from server.transport.addressing import user_room
from server.transport.events import EventContext, EventRouter

from .devices import member_devices, require_private_member

router = EventRouter()

MAX_SHARES_PER_CALL = 100
MAX_PENDING_PER_FETCH = 500
SHARE_RATE = "600/hour"
# base64 of a 32-byte key sealed with AES-GCM (48 bytes), with room to spare.
MAX_FIELD_CHARS = 200

NOT_YOUR_DEVICE = N_("That device is not one of yours.")
NOT_A_MEMBER_DEVICE = N_("A key can be shared only with the devices of the room's members.")
SHARING_TOO_FAST = N_("You are sharing keys too fast; please wait a moment.")


class SealedKey(msgspec.Struct, forbid_unknown_fields=True):
    """One room key encrypted to one device (ECDH + HKDF + AES-GCM on the sender's device)."""

    device_id: str
    key_id: str
    iv: str
    ciphertext: str


class ShareKeys(msgspec.Struct, forbid_unknown_fields=True):
    room_id: str
    device_id: str
    shares: list[SealedKey]


class DeviceRef(msgspec.Struct, forbid_unknown_fields=True):
    device_id: str


class AckShares(msgspec.Struct, forbid_unknown_fields=True):
    device_id: str
    share_ids: list[str]


def share_view(row: KeyShare) -> dict[str, Any]:
    return {"id": row.id, "room_id": row.room_id, "sender_id": row.sender_id, "sender_device_id": row.sender_device_id,
            "device_id": row.target_device_id, **row.payload}


async def _own_device(s: Any, device_id: str, user_id: str) -> Device:
    device = await s.get(Device, device_id) if len(device_id) <= 32 else None
    if device is None or device.user_id != user_id:
        raise Forbidden(NOT_YOUR_DEVICE, code="not_your_device")
    return device


@router.on("keys:share", ShareKeys)
async def on_share(ctx: EventContext, p: ShareKeys) -> dict[str, Any]:
    services = ctx.services
    await services.limiter.check(SHARE_RATE, "key-share", ctx.user.id, message=SHARING_TOO_FAST)
    async with services.db.transaction() as s:
        room = await require_private_member(s, p.room_id, ctx.user.id)
        await _own_device(s, p.device_id, ctx.user.id)
        if not 1 <= len(p.shares) <= MAX_SHARES_PER_CALL:
            raise InvalidPayload("Share a key with 1 to 100 devices at a time.", code="invalid_shares")
        if any(len(x.key_id) > 64 or len(x.iv) > MAX_FIELD_CHARS or len(x.ciphertext) > MAX_FIELD_CHARS for x in p.shares):
            raise InvalidPayload("A key share is too large.", code="invalid_shares")
        targets = {d.id: d for d in await member_devices(s, room.id)}
        if any(x.device_id not in targets for x in p.shares):
            raise Forbidden(NOT_A_MEMBER_DEVICE, code="not_a_member_device")
        rows = [KeyShare(id=new_id(), room_id=room.id, target_device_id=x.device_id, sender_id=ctx.user.id,
                         sender_device_id=p.device_id, payload={"key_id": x.key_id, "iv": x.iv, "ciphertext": x.ciphertext})
                for x in p.shares]
        s.add_all(rows)
    # Stored first (the target may be away); then pushed to whoever of them is connected.
    for row in rows:
        await services.sio.emit("keys:incoming", share_view(row), to=user_room(targets[row.target_device_id].user_id))
    return {"shared": len(rows)}


@router.on("keys:fetch", DeviceRef)
async def on_fetch(ctx: EventContext, p: DeviceRef) -> dict[str, Any]:
    """Shares waiting for this device, oldest first, until it acknowledges them."""
    async with ctx.services.db.read() as s:
        await _own_device(s, p.device_id, ctx.user.id)
        rows = await s.scalars(select(KeyShare).where(KeyShare.target_device_id == p.device_id)
                               .order_by(KeyShare.created_at, KeyShare.id).limit(MAX_PENDING_PER_FETCH))
        return {"shares": [share_view(r) for r in rows]}


@router.on("keys:ack", AckShares)
async def on_ack(ctx: EventContext, p: AckShares) -> dict[str, Any]:
    """The device stored these keys: the server forgets its copies."""
    if len(p.share_ids) > MAX_PENDING_PER_FETCH:
        raise InvalidPayload("Acknowledge at most 500 key shares at a time.", code="invalid_shares")
    async with ctx.services.db.transaction() as s:
        await _own_device(s, p.device_id, ctx.user.id)
        if p.share_ids:
            await s.execute(delete(KeyShare).where(KeyShare.target_device_id == p.device_id, KeyShare.id.in_(p.share_ids)))
    return {}
