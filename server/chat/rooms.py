"""Rooms and memberships: who may be where. Every read of a room goes through ``require_member``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

import msgspec
from sqlalchemy import select

from server.core.audit import record_audit
from server.core.errors import Conflict, Forbidden, InvalidPayload, NotFound
from server.core.roles import GROUP_LEADER_ROLES, MEMBER, ROOM_LEADER
from server.storage.models import Membership, Room, User, new_id
from server.transport.addressing import socket_room, user_room
from server.transport.events import EventContext, EventRouter

from .room_access import require_member, room_view
from .room_text import RoomText, seal_room_text, settings_to_store

if TYPE_CHECKING:
    from server.services import Services

router = EventRouter()

ROOM_CREATE_RATE = "20/hour"
# Roles allowed to open group rooms; group membership rules live in the groups feature.
GROUP_CREATOR_ROLES = GROUP_LEADER_ROLES


class CreateRoom(msgspec.Struct, forbid_unknown_fields=True):
    kind: Literal["direct", "group"]
    member_ids: list[str]
    title: str = ""
    # End-to-end encrypted: the members' devices seal every message (docs/private-rooms.md).
    private: bool = False


class RoomRef(msgspec.Struct, forbid_unknown_fields=True):
    room_id: str
    # Last seq the client has seen; when given, the ack carries what it missed.
    last_seq: int | None = None


class FindUser(msgspec.Struct, forbid_unknown_fields=True):
    username: str


async def create_room(
    services: "Services", creator_id: str, kind: str, title: str, other_ids: list[str], *, creator_role: str = MEMBER,
    settings: dict[str, Any] | None = None, private: bool = False,
) -> dict[str, Any]:
    """Creates the room with its own data key; the creator is a member.

    A private room's key protects only what the server itself writes there (its title, a crisis
    alert's excerpt); its messages are sealed by the members' devices with keys it never holds.
    """
    wanted = list(dict.fromkeys(i for i in other_ids if i != creator_id))
    if kind == "direct" and len(wanted) != 1:
        raise InvalidPayload("A direct room has exactly one other member.")
    if len(title) > 200:
        raise InvalidPayload("A room title has at most 200 characters.")
    async with services.db.transaction() as s:
        found = set(await s.scalars(select(User.id).where(User.id.in_(wanted)))) if wanted else set()
        if len(found) != len(wanted):
            raise NotFound("One of those people does not exist.")
        room_id = new_id()
        room = Room(
            id=room_id,
            kind=kind,
            created_by=creator_id,
            wrapped_key=services.keyring.new_room_key(room_id),
            master_key_id=services.keyring.master_id,
            safety_monitoring=True,
            settings=settings_to_store(settings or {}),
            private=private,
        )
        seal_room_text(services.keyring, room, RoomText(title=title.strip()))
        s.add(room)
        await s.flush()
        s.add(Membership(room_id=room_id, user_id=creator_id, role=creator_role))
        for uid in wanted:
            s.add(Membership(room_id=room_id, user_id=uid, role=MEMBER))
        await record_audit(s, creator_id, "room.create", room_id=room_id, detail={"kind": kind, "members": len(wanted) + 1, "private": private})
        await s.flush()
        view = await room_view(s, room)
    for uid in [creator_id, *wanted]:
        await services.sio.emit("room:added", {"room": view}, to=user_room(uid))
    return view


@router.on("room:create", CreateRoom)
async def on_room_create(ctx: EventContext, p: CreateRoom) -> dict[str, Any]:
    if p.kind == "group" and ctx.user.role not in GROUP_CREATOR_ROLES:
        raise Forbidden("Only group leaders can open group rooms.")
    if p.kind == "group":
        # Staff-arranged groups add members directly; the same size limit as group:create applies.
        largest = ctx.services.groups.sizes.for_program("general")[1]
        if len(set(p.member_ids) - {ctx.user.id}) + 1 > largest:
            raise Conflict(f"A group has at most {largest} participants.", code="room_full")
    await ctx.services.limiter.check(ROOM_CREATE_RATE, "room-create", ctx.user.id, message="You have created many rooms recently; please wait.")
    creator_role = ROOM_LEADER if p.kind == "group" else MEMBER
    return {"room": await create_room(ctx.services, ctx.user.id, p.kind, p.title, p.member_ids, creator_role=creator_role,
                                      private=p.private)}


@router.on("room:list")
async def on_room_list(ctx: EventContext, _p: Any) -> dict[str, Any]:
    async with ctx.services.db.read() as s:
        rooms = await s.scalars(
            select(Room).join(Membership, Membership.room_id == Room.id).where(Membership.user_id == ctx.user.id).order_by(Room.created_at)
        )
        return {"rooms": [await room_view(s, r) for r in rooms]}


@router.on("room:join", RoomRef)
async def on_room_join(ctx: EventContext, p: RoomRef) -> dict[str, Any]:
    """Subscribe this connection to the room's live events; with last_seq, also replay the gap."""
    async with ctx.services.db.read() as s:
        room, _m = await require_member(s, p.room_id, ctx.user.id)
        view = await room_view(s, room)
    # Enter before reading the gap, so nothing falls between the replay and the live stream.
    await ctx.services.sio.enter_room(ctx.sid, socket_room(room.id), namespace=ctx.namespace)
    result: dict[str, Any] = {"room": view, "last_seq": view["last_seq"]}
    if p.last_seq is not None:
        result.update(await ctx.services.messages.history_page(room.id, after_seq=p.last_seq, before_seq=None, limit=500))
    await ctx.services.presence.announce_to_caller(ctx, room.id)
    return result


@router.on("room:leave_view", RoomRef)
async def on_room_leave_view(ctx: EventContext, p: RoomRef) -> dict[str, Any]:
    """Stop live events for this connection (closing the view); membership is unchanged."""
    await ctx.services.sio.leave_room(ctx.sid, socket_room(p.room_id), namespace=ctx.namespace)
    return {}


@router.on("user:find", FindUser)
async def on_user_find(ctx: EventContext, p: FindUser) -> dict[str, Any]:
    user = await ctx.services.users.find_by_username(p.username)
    if user.pseudonym and user.id != ctx.user.id:
        # Answering would tie the chosen name to the account name it stands for.
        raise NotFound("No such user.")
    return {"user": user.public()}
