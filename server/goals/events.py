"""The goals feature's Socket.IO events: parse, name the caller, call the service."""

from __future__ import annotations

from typing import Any

from server.chat.room_access import RoomOnly
from server.core.roles import STAFF_ROLES
from server.transport.events import EventContext, EventRouter

from .goals import CheckIn, CloseGoal, GoalRef, GoalTerms, ReviewGoals, SetStep, UpdateGoal

router = EventRouter()


@router.on("goal:list", RoomOnly)
async def on_list(ctx: EventContext, p: RoomOnly) -> dict[str, Any]:
    return await ctx.services.goals.of_room(ctx.user.id, p.room_id)


@router.on("goal:create", GoalTerms, ordered=True)
async def on_create(ctx: EventContext, p: GoalTerms) -> dict[str, Any]:
    return {"goal": await ctx.services.goals.create(ctx.user.id, p)}


@router.on("goal:update", UpdateGoal, ordered=True)
async def on_update(ctx: EventContext, p: UpdateGoal) -> dict[str, Any]:
    return {"goal": await ctx.services.goals.update(ctx.user.id, p)}


@router.on("goal:agree", GoalRef, ordered=True)
async def on_agree(ctx: EventContext, p: GoalRef) -> dict[str, Any]:
    return {"goal": await ctx.services.goals.agree(ctx.user.id, p)}


@router.on("goal:step", SetStep, ordered=True)
async def on_step(ctx: EventContext, p: SetStep) -> dict[str, Any]:
    return {"goal": await ctx.services.goals.set_step(ctx.user.id, p)}


@router.on("goal:check_in", CheckIn, ordered=True)
async def on_check_in(ctx: EventContext, p: CheckIn) -> dict[str, Any]:
    return {"goal": await ctx.services.goals.check_in(ctx.user.id, p)}


@router.on("goal:close", CloseGoal, ordered=True)
async def on_close(ctx: EventContext, p: CloseGoal) -> dict[str, Any]:
    return {"goal": await ctx.services.goals.close(ctx.user.id, p)}


@router.on("goal:review", ReviewGoals, roles=STAFF_ROLES)
async def on_review(ctx: EventContext, p: ReviewGoals) -> dict[str, Any]:
    """Staff only, with a reason that is audited before anything is read."""
    return await ctx.services.goals.review(ctx.user.id, p.room_id, p.reason)
