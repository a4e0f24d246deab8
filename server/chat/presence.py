"""Presence, typing indicators and read receipts: the small live signals around a conversation.

Presence counts a user's open connections; the user is online while the count is above zero.
A tab closed without goodbye is noticed by the Engine.IO heartbeat (ping interval + timeout),
after which the disconnect handler runs like any other.

Going offline reads nothing from the database: the rooms told are those read when this process
announced the user online, plus every room the closing connection had joined (a room the user
entered since). A mass disconnect (a network blip, a deploy) therefore costs no pool connection
per socket; before, 2,000 at once queued past the pool's timeout and starved live requests.
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Any

import msgspec
from sqlalchemy import select

from server.storage.models import Membership
from server.transport.addressing import socket_room
from server.transport.events import EventContext, EventRouter

from .room_access import RoomOnly, require_member

if TYPE_CHECKING:
    from server.accounts.users import AuthUser
    from server.services import Services

router = EventRouter()


class ReadReceipt(msgspec.Struct, forbid_unknown_fields=True):
    room_id: str
    seq: int


class Presence:
    """Who is online, as seen by this process; the Redis-backed variant shares it across processes."""

    def __init__(self, services: "Services") -> None:
        self.services = services
        self._connections: Counter[str] = Counter()
        # user id -> the rooms announced when this process told them online (see the module doc).
        self._announced: dict[str, set[str]] = {}

    async def connected(self, user: "AuthUser") -> None:
        self._connections[user.id] += 1
        if self._connections[user.id] == 1:
            await self._broadcast(user.id, True)

    async def disconnected(self, user: "AuthUser", joined: set[str] | None = None) -> None:
        """``joined``: the chat rooms the closing connection had joined."""
        self._connections[user.id] -= 1
        if self._connections[user.id] <= 0:
            del self._connections[user.id]
            await self._broadcast(user.id, False, self._offline_rooms(user.id, joined))

    def _offline_rooms(self, user_id: str, joined: set[str] | None) -> set[str] | None:
        """The rooms to tell of going offline, or None (read them) when this process never announced the user."""
        announced = self._announced.pop(user_id, None)
        if announced is None:
            return None
        return announced | (joined or set())

    def is_online(self, user_id: str) -> bool:
        """As seen by this process only; ``online_among`` is the answer across processes."""
        return self._connections.get(user_id, 0) > 0

    async def online_among(self, user_ids: list[str]) -> set[str]:
        """Which of these users have at least one open connection."""
        return {i for i in user_ids if self.is_online(i)}

    async def _broadcast(self, user_id: str, online: bool, room_ids: set[str] | None = None) -> None:
        if room_ids is None:
            async with self.services.db.read() as s:
                room_ids = set(await s.scalars(select(Membership.room_id).where(Membership.user_id == user_id)))
        if online:
            self._announced[user_id] = set(room_ids)
        for room_id in sorted(room_ids):
            await self.services.sio.emit("presence", {"room_id": room_id, "user_id": user_id, "online": online}, to=socket_room(room_id))

    async def announce_to_caller(self, ctx: EventContext, room_id: str) -> None:
        async with self.services.db.read() as s:
            ids = list(await s.scalars(select(Membership.user_id).where(Membership.room_id == room_id)))
        online = await self.online_among(ids)
        await ctx.emit_to_caller("presence:state", {"room_id": room_id, "online": [i for i in ids if i in online]})


@router.on("typing:start", RoomOnly)
async def on_typing_start(ctx: EventContext, p: RoomOnly) -> dict[str, Any]:
    return await _typing(ctx, p.room_id, True)


@router.on("typing:stop", RoomOnly)
async def on_typing_stop(ctx: EventContext, p: RoomOnly) -> dict[str, Any]:
    return await _typing(ctx, p.room_id, False)


async def _typing(ctx: EventContext, room_id: str, typing: bool) -> dict[str, Any]:
    async with ctx.services.db.read() as s:
        await require_member(s, room_id, ctx.user.id)
    await ctx.services.sio.emit(
        "typing", {"room_id": room_id, "user_id": ctx.user.id, "typing": typing}, to=socket_room(room_id), skip_sid=ctx.sid
    )
    return {}


@router.on("receipt:read", ReadReceipt, ordered=True)
async def on_receipt_read(ctx: EventContext, p: ReadReceipt) -> dict[str, Any]:
    """Read position only moves forward, and never past the newest message."""
    async with ctx.services.db.transaction() as s:
        room, membership = await require_member(s, p.room_id, ctx.user.id)
        seq = max(membership.last_read_seq, min(p.seq, room.last_seq))
        membership.last_read_seq = seq
    await ctx.services.sio.emit("receipt:read", {"room_id": p.room_id, "user_id": ctx.user.id, "seq": seq}, to=socket_room(p.room_id))
    return {"seq": seq}
