"""Group rooms: opening a group for a program type, and who gets in and out of it.

Only admin-granted group leaders open groups. Nobody is put into a group without saying yes:
people join by accepting a moderator's invitation, or by asking to join and being approved.
Each program type has a participant range (leader included; Settings ``group_min_participants``,
``group_max_participants``, ``group_program_sizes``): a full group refuses newcomers with
``room_full``, and a session cannot start below the minimum. Moderation lives in
``moderation.py``, the agenda in ``agenda.py``, hand-over and sessions in ``leadership.py``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import msgspec
from sqlalchemy import delete, select

from server.accounts.users import public_identity
from server.chat.room_access import RoomOnly, RoomUser, require_member, room_view
from server.chat.room_text import open_room_text
from server.chat.rooms import GROUP_CREATOR_ROLES, ROOM_CREATE_RATE, create_room
from server.core.audit import audit_entries
from server.core.errors import Conflict, Forbidden, InvalidPayload, NotFound
from server.core.roles import ADMIN
from server.storage.models import GroupInvitation, Membership, Room, User
from server.transport.addressing import socket_room, user_room
from server.transport.cluster import leave_room_for_user
from server.transport.events import EventContext, EventRouter

from .leadership import end_session_leadership
from .roles import CO_LEADER, LEADER, MEMBER, MODERATORS, require_owner
from .state import GroupSizes, GroupTx, group_action, group_view, new_group_state, open_group_state

if TYPE_CHECKING:
    from server.services import Services

router = EventRouter()
AUDIT_MAX_PAGE = 500


@dataclass(frozen=True)
class GroupService:
    """Group policy fixed at start-up (a bad size setting stops the server instead of a session)."""

    sizes: GroupSizes


class CreateGroup(msgspec.Struct, forbid_unknown_fields=True):
    title: str
    program: str = "general"
    invite_ids: list[str] = []
    # End-to-end encrypted (docs/private-rooms.md), chosen once, here.
    private: bool = False


class JoinRequest(msgspec.Struct, forbid_unknown_fields=True):
    room_id: str
    note: str = ""


class SetRole(msgspec.Struct, forbid_unknown_fields=True):
    room_id: str
    user_id: str
    role: Literal["co-leader", "member"]


class AuditQuery(msgspec.Struct, forbid_unknown_fields=True):
    room_id: str
    limit: int = 200


async def admit(g: GroupTx, user_id: str, via: str) -> None:
    """Turn a pending invitation or request into a membership, if the group is open and not full."""
    g.require_open_for_joining(await g.participant_count())
    await g.session.execute(delete(GroupInvitation).where(GroupInvitation.room_id == g.room.id, GroupInvitation.user_id == user_id))
    g.session.add(Membership(room_id=g.room.id, user_id=user_id, role=MEMBER))
    await g.record("member.join", target_id=user_id, detail={"via": via})


async def depart(g: GroupTx, target: Membership, action: str) -> None:
    """Take someone out of the group: the session role returns first, their raised hand goes."""
    if g.state["leadership"].get("acting_id") == target.user_id:
        await end_session_leadership(g)
    elif g.state["leadership"].get("owner_id") == target.user_id or target.role == LEADER:
        if await g.participant_count() > 1:
            raise Conflict("Hand the group over to someone else before leaving it.", code="handover_first")
    g.state["hands"] = [h for h in g.state["hands"] if h["user_id"] != target.user_id]
    await g.session.delete(target)
    await g.record(action, target_id=target.user_id)


async def stop_room_events(services: "Services", room_id: str, user_id: str) -> None:
    """Take every connection of this user, on every process, out of the room's live events."""
    await leave_room_for_user(services, user_id, socket_room(room_id))


async def announce_added(services: "Services", room_id: str, user_id: str) -> None:
    async with services.db.transaction() as s:
        room = await s.get(Room, room_id)
        view = await room_view(s, room) if room is not None else None
    if view is not None:
        await services.sio.emit("room:added", {"room": view}, to=user_room(user_id))


async def pending(g: GroupTx, user_id: str) -> GroupInvitation | None:
    return await g.session.get(GroupInvitation, (g.room.id, user_id)) if len(user_id) <= 64 else None


async def join_request(g: GroupTx, user_id: str) -> GroupInvitation:
    """The person's open request to join, which a moderator approves or rejects."""
    waiting = await pending(g, user_id)
    if waiting is None or waiting.kind != "request":
        raise NotFound("That person has not asked to join.")
    return waiting


@router.on("group:create", CreateGroup, roles=GROUP_CREATOR_ROLES)
async def on_group_create(ctx: EventContext, p: CreateGroup) -> dict[str, Any]:
    """Open a group with its leader only; everyone named is invited, not added."""
    services = ctx.services
    sizes = services.groups.sizes.for_program(p.program)
    invite_ids = list(dict.fromkeys(i for i in p.invite_ids if i != ctx.user.id))
    if len(invite_ids) + 1 > sizes[1]:
        raise Conflict(f"A {p.program} group has at most {sizes[1]} participants.", code="room_full")
    await services.limiter.check(ROOM_CREATE_RATE, "room-create", ctx.user.id, message="You have created many rooms recently; please wait.")
    async with services.db.transaction() as s:
        found = set(await s.scalars(select(User.id).where(User.id.in_(invite_ids)))) if invite_ids else set()
    if len(found) != len(invite_ids):
        raise NotFound("One of those people does not exist.")
    room = await create_room(
        services, ctx.user.id, "group", p.title, [], creator_role=LEADER, settings={"group": new_group_state(p.program, sizes)},
        private=p.private,
    )
    for user_id in invite_ids:
        await invite(services, room["id"], ctx.user.id, user_id)
    async with services.db.transaction() as s:
        stored = await s.get(Room, room["id"])
        assert stored is not None
        return {"room": room, "group": await group_view(s, stored, open_group_state(services.keyring, stored, services.groups.sizes))}


async def invite(services: "Services", room_id: str, actor_id: str, user_id: str) -> GroupTx:
    async with group_action(services, room_id, actor_id, permission="invite") as g:
        if await g.session.get(Membership, (room_id, user_id)) is not None:
            raise Conflict("That person is already in this group.", code="already_member")
        if await g.session.get(User, user_id) is None:
            raise NotFound("That person does not exist.")
        waiting = await pending(g, user_id)
        if waiting is not None and waiting.kind == "request":
            await admit(g, user_id, "invite")
            joined = True
        else:
            g.require_open_for_joining(await g.participant_count())
            if waiting is None:
                g.session.add(GroupInvitation(room_id=room_id, user_id=user_id, kind="invite", actor_id=actor_id))
            await g.record("invite", target_id=user_id)
            joined = False
        title, program = g.text.title, g.state["program"]
    if joined:
        await announce_added(services, room_id, user_id)
    else:
        await services.sio.emit(
            "group:invited", {"room_id": room_id, "title": title, "program": program, "invited_by": actor_id}, to=user_room(user_id)
        )
    return g


@router.on("group:invite", RoomUser)
async def on_invite(ctx: EventContext, p: RoomUser) -> dict[str, Any]:
    g = await invite(ctx.services, p.room_id, ctx.user.id, p.user_id)
    return {"group": g.view}


@router.on("group:invitations")
async def on_group_invitations(ctx: EventContext, _p: Any) -> dict[str, Any]:
    """Invitations still waiting for the caller's answer, so one sent while they were offline is
    not lost (the live ``group:invited`` only reaches connected tabs)."""
    async with ctx.services.db.read() as s:
        rows = await s.execute(
            select(GroupInvitation, Room)
            .join(Room, Room.id == GroupInvitation.room_id)
            .where(GroupInvitation.user_id == ctx.user.id, GroupInvitation.kind == "invite")
            .order_by(GroupInvitation.created_at)
        )
        invitations = [
            {"room_id": room.id, "title": open_room_text(ctx.services.keyring, room).title, "program": (room.settings or {}).get("group", {}).get("program", "general"),
             "invited_by": invitation.actor_id}
            for invitation, room in rows
        ]
    return {"invitations": invitations}


@router.on("group:accept", RoomOnly)
async def on_accept(ctx: EventContext, p: RoomOnly) -> dict[str, Any]:
    async with group_action(ctx.services, p.room_id, ctx.user.id, member_required=False) as g:
        waiting = await pending(g, ctx.user.id)
        if g.membership is not None or waiting is None or waiting.kind != "invite":
            raise NotFound("You have no invitation to this group.")
        await admit(g, ctx.user.id, "invite")
    await announce_added(ctx.services, p.room_id, ctx.user.id)
    return {"group": g.view}


@router.on("group:decline", RoomOnly)
async def on_decline(ctx: EventContext, p: RoomOnly) -> dict[str, Any]:
    async with group_action(ctx.services, p.room_id, ctx.user.id, member_required=False) as g:
        waiting = await pending(g, ctx.user.id)
        if waiting is None or waiting.kind != "invite":
            raise NotFound("You have no invitation to this group.")
        await g.session.delete(waiting)
        await g.record("invite.declined", target_id=ctx.user.id)
    return {}


@router.on("group:request", JoinRequest)
async def on_request(ctx: EventContext, p: JoinRequest) -> dict[str, Any]:
    """Ask to join a group whose id the leader shared; moderators are told, members are not."""
    if len(p.note) > 500:
        raise InvalidPayload("A note has at most 500 characters.")
    async with group_action(ctx.services, p.room_id, ctx.user.id, member_required=False) as g:
        if g.membership is not None:
            raise Conflict("You are already in this group.", code="already_member")
        waiting = await pending(g, ctx.user.id)
        if waiting is not None and waiting.kind == "invite":
            await admit(g, ctx.user.id, "request")
            joined = True
        else:
            g.require_open_for_joining(await g.participant_count())
            if waiting is None:
                g.session.add(GroupInvitation(room_id=p.room_id, user_id=ctx.user.id, kind="request", actor_id=ctx.user.id, note=p.note))
            await g.record("join_request", target_id=ctx.user.id, broadcast=False)
            joined = False
            moderators = [m.user_id for m in await g.members() if m.role in MODERATORS]
    if joined:
        await announce_added(ctx.services, p.room_id, ctx.user.id)
        return {"status": "joined"}
    notice = {"room_id": p.room_id, "user": ctx.user.public(), "note": p.note}
    for user_id in moderators:
        await ctx.services.sio.emit("group:join_requested", notice, to=user_room(user_id))
    return {"status": "pending"}


@router.on("group:requests", RoomOnly)
async def on_requests(ctx: EventContext, p: RoomOnly) -> dict[str, Any]:
    async with ctx.services.db.transaction() as s:
        _room, membership = await require_member(s, p.room_id, ctx.user.id)
        if membership.role not in MODERATORS:
            raise Forbidden("Only the group's leader or co-leaders can do that.")
        rows = await s.execute(
            select(GroupInvitation, User).join(User, User.id == GroupInvitation.user_id)
            .where(GroupInvitation.room_id == p.room_id).order_by(GroupInvitation.created_at)
        )
        return {"pending": [
            {"user": public_identity(u.id, u.username, u.display_name, u.role, u.pseudonym), "kind": i.kind,
             "actor_id": i.actor_id, "note": i.note, "created_at": i.created_at.isoformat()}
            for i, u in rows
        ]}


@router.on("group:approve", RoomUser)
async def on_approve(ctx: EventContext, p: RoomUser) -> dict[str, Any]:
    async with group_action(ctx.services, p.room_id, ctx.user.id, permission="approve") as g:
        await join_request(g, p.user_id)
        await admit(g, p.user_id, "request")
    await announce_added(ctx.services, p.room_id, p.user_id)
    return {"group": g.view}


@router.on("group:reject", RoomUser)
async def on_reject(ctx: EventContext, p: RoomUser) -> dict[str, Any]:
    async with group_action(ctx.services, p.room_id, ctx.user.id, permission="approve") as g:
        await g.session.delete(await join_request(g, p.user_id))
        await g.record("join_request.rejected", target_id=p.user_id, broadcast=False)
    await ctx.services.sio.emit("group:request_declined", {"room_id": p.room_id}, to=user_room(p.user_id))
    return {}


@router.on("group:leave", RoomOnly)
async def on_leave(ctx: EventContext, p: RoomOnly) -> dict[str, Any]:
    async with group_action(ctx.services, p.room_id, ctx.user.id) as g:
        assert g.membership is not None
        await depart(g, g.membership, "member.leave")
    await stop_room_events(ctx.services, p.room_id, ctx.user.id)
    return {}


@router.on("group:set_role", SetRole)
async def on_set_role(ctx: EventContext, p: SetRole) -> dict[str, Any]:
    """The owner appoints or relieves co-leaders."""
    async with group_action(ctx.services, p.room_id, ctx.user.id) as g:
        require_owner(g.membership, await g.owner_id())
        target = await g.member(p.user_id)
        if target.user_id == ctx.user.id or g.state["leadership"].get("acting_id") == target.user_id:
            raise Conflict("That person's role is set by the hand-over; end it first.", code="role_locked_by_handover")
        target.role = CO_LEADER if p.role == "co-leader" else MEMBER
        await g.record("role", target_id=target.user_id, detail={"role": target.role})
    return {"group": g.view}


@router.on("group:state", RoomOnly)
async def on_state(ctx: EventContext, p: RoomOnly) -> dict[str, Any]:
    async with ctx.services.db.transaction() as s:
        room, _m = await require_member(s, p.room_id, ctx.user.id)
        if room.kind != "group":
            raise NotFound("That room is not a group.")
        return {"group": await group_view(s, room, open_group_state(ctx.services.keyring, room, ctx.services.groups.sizes))}


@router.on("group:audit", AuditQuery)
async def on_audit(ctx: EventContext, p: AuditQuery) -> dict[str, Any]:
    """Moderators of the group, and site admins, read its audit log (newest first)."""
    if not 1 <= p.limit <= AUDIT_MAX_PAGE:
        raise InvalidPayload(f"limit is between 1 and {AUDIT_MAX_PAGE}.")
    async with ctx.services.db.transaction() as s:
        if ctx.user.role != ADMIN:
            room, membership = await require_member(s, p.room_id, ctx.user.id)
            if room.kind != "group" or membership.role not in MODERATORS:
                raise Forbidden("Only the group's leader or co-leaders can read its audit log.")
        return {"entries": await audit_entries(s, room_id=p.room_id, limit=p.limit)}
