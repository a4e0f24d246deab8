"""Group leadership: hand-over, rotating leadership and the sessions they are tied to.

A *permanent* hand-over makes another admin-granted group leader the group's leader; the old
leader becomes a co-leader. A *session* hand-over lets any member lead: the owner steps down to
co-leader, and the role returns to the owner when the session ends (``group:session_end``), when
the owner reclaims it (``group:reclaim``), or when the acting leader leaves or is removed. With
rotation on, each ``group:session_start`` hands the session to the next member round-robin in
joining order (muted members are skipped; the owner takes a turn too).
"""

from __future__ import annotations

from typing import Any

import msgspec

from server.chat.room_access import RoomOnly
from server.core.errors import Conflict, Forbidden, InvalidPayload
from server.core.roles import GROUP_LEADER_ROLES
from server.storage.models import Membership, User
from server.transport.events import EventContext, EventRouter

from .roles import CO_LEADER, LEADER, MEMBER, require_owner
from .state import GroupTx, group_action, now_utc

router = EventRouter()
GROUP_LEADER_USER_ROLES = GROUP_LEADER_ROLES


class Handover(msgspec.Struct, forbid_unknown_fields=True):
    room_id: str
    user_id: str
    for_session: bool = False


class Rotation(msgspec.Struct, forbid_unknown_fields=True):
    room_id: str
    enabled: bool


def no_acting_leader() -> dict[str, Any]:
    return {"owner_id": None, "acting_id": None, "acting_previous_role": None}


async def end_session_leadership(g: GroupTx) -> str | None:
    """Return the leader role to the owner; the acting leader goes back to their own role."""
    lead = g.state["leadership"]
    if not lead.get("acting_id"):
        return None
    acting = await g.session.get(Membership, (g.room.id, lead["acting_id"]))
    if acting is not None:
        acting.role = lead.get("acting_previous_role") or MEMBER
    owner = await g.session.get(Membership, (g.room.id, lead["owner_id"]))
    if owner is not None:
        owner.role = LEADER
    g.state["leadership"] = no_acting_leader()
    return lead["owner_id"]


async def lead_for_session(g: GroupTx, target: Membership) -> None:
    """Make ``target`` the session's leader; the owner is remembered so the role comes back."""
    lead = g.state["leadership"]
    owner_id = await g.owner_id()
    if target.user_id == owner_id:
        await end_session_leadership(g)
        return
    if lead.get("acting_id") == target.user_id:
        return
    if lead.get("acting_id"):
        previous = await g.session.get(Membership, (g.room.id, lead["acting_id"]))
        if previous is not None:
            previous.role = lead.get("acting_previous_role") or MEMBER
    elif owner_id is not None:
        (await g.member(owner_id)).role = CO_LEADER
    g.state["leadership"] = {"owner_id": owner_id, "acting_id": target.user_id, "acting_previous_role": target.role}
    target.role = LEADER


async def next_in_rotation(g: GroupTx) -> Membership | None:
    """The next member round-robin in joining order, skipping anyone muted right now."""
    members = await g.members()
    if not members:
        return None
    now = now_utc()
    rotation = g.state["rotation"]
    for _ in range(len(members)):
        candidate = members[rotation["next"] % len(members)]
        rotation["next"] = (rotation["next"] + 1) % len(members)
        if candidate.muted_until is None or candidate.muted_until <= now:
            return candidate
    return None


@router.on("group:handover", Handover)
async def on_handover(ctx: EventContext, p: Handover) -> dict[str, Any]:
    async with group_action(ctx.services, p.room_id, ctx.user.id, permission="handover") as g:
        target = await g.member(p.user_id)
        if target.user_id == ctx.user.id:
            raise InvalidPayload("You already lead this group.")
        if p.for_session:
            await lead_for_session(g, target)
        else:
            require_owner(g.membership, await g.owner_id())
            user = await g.session.get(User, target.user_id)
            if user is None or user.role not in GROUP_LEADER_USER_ROLES:
                raise Forbidden(
                    "Only a trained group leader can take over a group for good; hand over for one session instead.",
                    code="not_a_group_leader",
                )
            assert g.membership is not None
            g.membership.role = CO_LEADER
            target.role = LEADER
        await g.record("handover", target_id=target.user_id, detail={"for_session": p.for_session})
    return {"group": g.view}


@router.on("group:reclaim", RoomOnly)
async def on_reclaim(ctx: EventContext, p: RoomOnly) -> dict[str, Any]:
    """The owner takes the leader role back before the session ends (e.g. to handle a crisis)."""
    async with group_action(ctx.services, p.room_id, ctx.user.id) as g:
        lead = g.state["leadership"]
        if lead.get("owner_id") != ctx.user.id:
            raise Forbidden("Only the group's own leader can take the role back.")
        previous = lead.get("acting_id")
        await end_session_leadership(g)
        await g.record("reclaim", target_id=previous)
    return {"group": g.view}


@router.on("group:rotation", Rotation)
async def on_rotation(ctx: EventContext, p: Rotation) -> dict[str, Any]:
    async with group_action(ctx.services, p.room_id, ctx.user.id) as g:
        require_owner(g.membership, await g.owner_id())
        g.state["rotation"]["enabled"] = p.enabled
        await g.record("rotation", detail={"enabled": p.enabled})
    return {"group": g.view}


@router.on("group:session_start", RoomOnly)
async def on_session_start(ctx: EventContext, p: RoomOnly) -> dict[str, Any]:
    async with group_action(ctx.services, p.room_id, ctx.user.id, permission="session") as g:
        session = g.state["session"]
        if session["active"]:
            raise Conflict("A session is already running.", code="session_active")
        participants = await g.participant_count()
        if participants < g.state["min_participants"]:
            raise Conflict(
                f"A session needs at least {g.state['min_participants']} participants; this group has {participants}.",
                code="too_few_participants", details={"min_participants": g.state["min_participants"]},
            )
        if g.state["rotation"]["enabled"] and not g.state["leadership"].get("acting_id"):
            chosen = await next_in_rotation(g)
            if chosen is not None:
                await lead_for_session(g, chosen)
        g.state["session"] = {"active": True, "number": session["number"] + 1, "started_at": g.at.isoformat()}
        leader_id = g.state["leadership"].get("acting_id") or await g.owner_id()
        await g.record("session.start", target_id=leader_id, detail={"number": session["number"] + 1})
    return {"group": g.view}


@router.on("group:session_end", RoomOnly)
async def on_session_end(ctx: EventContext, p: RoomOnly) -> dict[str, Any]:
    async with group_action(ctx.services, p.room_id, ctx.user.id, permission="session") as g:
        session = g.state["session"]
        if not session["active"]:
            raise Conflict("No session is running.", code="no_session")
        returned_to = await end_session_leadership(g)
        g.state["session"] = {**session, "active": False}
        g.state["hands"] = []
        await g.record("session.end", target_id=returned_to, detail={"number": session["number"]})
    return {"group": g.view}
