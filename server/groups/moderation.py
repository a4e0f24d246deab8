"""Group moderation: mute, remove, lock, pins, slow mode and the hand-raise queue.

Every action is checked against the permission matrix (``group_roles``), written to the audit
log, and shown to the whole room as ``group:action`` with the group's new state. Slow mode is
enforced in the message send path through ``MessageHooks.pre_send_checks`` (registered in server/app.py).
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

import msgspec
from sqlalchemy import func, select

from server.chat.room_access import RoomOnly, RoomUser
from server.core.errors import Conflict, InvalidPayload, NotFound, RateLimited
from server.storage.models import Membership, Message, Room
from server.transport.addressing import user_room
from server.transport.events import EventContext, EventRouter

from .roles import MODERATORS, require_outranks, require_permission
from .rooms import depart, stop_room_events
from .state import group_action, now_utc

if TYPE_CHECKING:
    from server.accounts.users import AuthUser
    from server.services import Services

router = EventRouter()

MAX_MUTE_SECONDS = 7 * 24 * 3600
MAX_SLOW_MODE_SECONDS = 3600
MAX_PINS = 10
# "Muted until unmuted": a date no session will reach, so the send path needs no special case.
INDEFINITELY = datetime(9999, 1, 1, tzinfo=timezone.utc)


class Mute(msgspec.Struct, forbid_unknown_fields=True):
    room_id: str
    user_id: str
    # None: until a moderator unmutes.
    seconds: int | None = None


class Lock(msgspec.Struct, forbid_unknown_fields=True):
    room_id: str
    locked: bool


class Pin(msgspec.Struct, forbid_unknown_fields=True):
    room_id: str
    message_id: str


class SlowMode(msgspec.Struct, forbid_unknown_fields=True):
    room_id: str
    seconds: int


class LowerHand(msgspec.Struct, forbid_unknown_fields=True):
    room_id: str
    # Omitted: the caller's own hand. Someone else's: moderators only.
    user_id: str | None = None


async def enforce_slow_mode(services: "Services", room: Room, sender: "AuthUser") -> None:
    """Refuse a member's message sent sooner than the group's slow-mode interval after their last."""
    seconds = int(((room.settings or {}).get("group") or {}).get("slow_mode_seconds") or 0)
    if room.kind != "group" or seconds <= 0:
        return
    async with services.db.read() as session:
        role = await session.scalar(select(Membership.role).where(Membership.room_id == room.id, Membership.user_id == sender.id))
        if role in MODERATORS:
            return
        last = await session.scalar(
            select(func.max(Message.created_at)).where(Message.room_id == room.id, Message.sender_id == sender.id)
        )
    if last is None:
        return
    wait = seconds - (now_utc() - last).total_seconds()
    if wait > 0:
        raise RateLimited(
            f"Slow mode is on: one message every {seconds} seconds.", code="slow_mode",
            details={"retry_after": round(wait, 1), "slow_mode_seconds": seconds},
        )


@router.on("group:mute", Mute)
async def on_mute(ctx: EventContext, p: Mute) -> dict[str, Any]:
    if p.seconds is not None and not 1 <= p.seconds <= MAX_MUTE_SECONDS:
        raise InvalidPayload(f"seconds is between 1 and {MAX_MUTE_SECONDS}, or omitted for 'until unmuted'.")
    async with group_action(ctx.services, p.room_id, ctx.user.id, permission="mute") as g:
        target = await g.member(p.user_id)
        assert g.membership is not None
        require_outranks(g.membership, target, await g.owner_id())
        target.muted_until = INDEFINITELY if p.seconds is None else g.at + timedelta(seconds=p.seconds)
        g.state["hands"] = [h for h in g.state["hands"] if h["user_id"] != target.user_id]
        await g.record("mute", target_id=target.user_id, detail={"seconds": p.seconds})
    return {"group": g.view}


@router.on("group:unmute", RoomUser)
async def on_unmute(ctx: EventContext, p: RoomUser) -> dict[str, Any]:
    async with group_action(ctx.services, p.room_id, ctx.user.id, permission="mute") as g:
        target = await g.member(p.user_id)
        target.muted_until = None
        await g.record("unmute", target_id=target.user_id)
    return {"group": g.view}


@router.on("group:remove", RoomUser)
async def on_remove(ctx: EventContext, p: RoomUser) -> dict[str, Any]:
    """Take a member out: they stop receiving the room's events at once and cannot come back
    unless invited (or approved) again."""
    async with group_action(ctx.services, p.room_id, ctx.user.id, permission="remove") as g:
        target = await g.member(p.user_id)
        assert g.membership is not None
        require_outranks(g.membership, target, await g.owner_id())
        await depart(g, target, "remove")
    await stop_room_events(ctx.services, p.room_id, p.user_id)
    await ctx.services.sio.emit("group:removed", {"room_id": p.room_id, "by": ctx.user.id}, to=user_room(p.user_id))
    return {"group": g.view}


@router.on("group:lock", Lock)
async def on_lock(ctx: EventContext, p: Lock) -> dict[str, Any]:
    async with group_action(ctx.services, p.room_id, ctx.user.id, permission="lock") as g:
        g.state["locked"] = p.locked
        await g.record("lock" if p.locked else "unlock")
    return {"group": g.view}


@router.on("group:pin", Pin)
async def on_pin(ctx: EventContext, p: Pin) -> dict[str, Any]:
    async with group_action(ctx.services, p.room_id, ctx.user.id, permission="pin") as g:
        message = await g.session.get(Message, p.message_id) if len(p.message_id) <= 64 else None
        if message is None or message.room_id != p.room_id or message.deleted_at is not None:
            raise NotFound("No such message in this room.")
        if any(pin["message_id"] == p.message_id for pin in g.state["pins"]):
            raise Conflict("That message is already pinned.", code="already_pinned")
        if len(g.state["pins"]) >= MAX_PINS:
            raise Conflict(f"At most {MAX_PINS} messages can be pinned; unpin one first.", code="too_many_pins")
        g.state["pins"].append({"message_id": message.id, "seq": message.seq, "pinned_by": ctx.user.id, "pinned_at": g.at.isoformat()})
        await g.record("pin", target_id=message.id, detail={"seq": message.seq})
    return {"group": g.view}


@router.on("group:unpin", Pin)
async def on_unpin(ctx: EventContext, p: Pin) -> dict[str, Any]:
    async with group_action(ctx.services, p.room_id, ctx.user.id, permission="pin") as g:
        kept = [pin for pin in g.state["pins"] if pin["message_id"] != p.message_id]
        if len(kept) == len(g.state["pins"]):
            raise NotFound("That message is not pinned.")
        g.state["pins"] = kept
        await g.record("unpin", target_id=p.message_id)
    return {"group": g.view}


@router.on("group:slow_mode", SlowMode)
async def on_slow_mode(ctx: EventContext, p: SlowMode) -> dict[str, Any]:
    if not 0 <= p.seconds <= MAX_SLOW_MODE_SECONDS:
        raise InvalidPayload(f"seconds is between 0 (off) and {MAX_SLOW_MODE_SECONDS}.")
    async with group_action(ctx.services, p.room_id, ctx.user.id, permission="slow_mode") as g:
        g.state["slow_mode_seconds"] = p.seconds
        await g.record("slow_mode", detail={"seconds": p.seconds})
    return {"group": g.view}


@router.on("hand:raise", RoomOnly)
async def on_hand_raise(ctx: EventContext, p: RoomOnly) -> dict[str, Any]:
    async with group_action(ctx.services, p.room_id, ctx.user.id) as g:
        if any(h["user_id"] == ctx.user.id for h in g.state["hands"]):
            raise Conflict("Your hand is already raised.", code="hand_already_raised")
        g.state["hands"].append({"user_id": ctx.user.id, "raised_at": g.at.isoformat()})
        await g.record("hand.raise", target_id=ctx.user.id, detail={"position": len(g.state["hands"])})
    return {"group": g.view}


@router.on("hand:lower", LowerHand)
async def on_hand_lower(ctx: EventContext, p: LowerHand) -> dict[str, Any]:
    async with group_action(ctx.services, p.room_id, ctx.user.id) as g:
        user_id = p.user_id or ctx.user.id
        if user_id != ctx.user.id:
            require_permission(g.membership, "hand.lower_other")
        kept = [h for h in g.state["hands"] if h["user_id"] != user_id]
        if len(kept) == len(g.state["hands"]):
            raise NotFound("That hand is not raised.")
        g.state["hands"] = kept
        await g.record("hand.lower", target_id=user_id)
    return {"group": g.view}


@router.on("hand:next", RoomOnly)
async def on_hand_next(ctx: EventContext, p: RoomOnly) -> dict[str, Any]:
    """The leader gives the floor to whoever raised their hand first."""
    async with group_action(ctx.services, p.room_id, ctx.user.id, permission="hand.next") as g:
        if not g.state["hands"]:
            raise Conflict("Nobody has a hand raised.", code="no_hands")
        called = g.state["hands"].pop(0)
        await g.record("hand.call", target_id=called["user_id"])
    return {"group": g.view, "called": called["user_id"]}
