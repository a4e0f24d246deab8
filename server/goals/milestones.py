"""Milestones of a goal that earn a reward, each once: agreeing on it together, the first check-in,
every step done, and achieving it (for the mentee, and for the mentor who helped). The reward
goes into the outbox in the same transaction as the change that reached the milestone; its
idempotency key (goal, milestone, person) makes a repeat (a step unticked and ticked again) a
no-op. The reward's detail names the goal and the milestone, never the goal's words."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from server.rewards.outbox import record_reward
from server.storage.models import Goal

REWARD_KIND = "goal_milestone"
AGREED = "agreed"
FIRST_CHECK_IN = "first_check_in"
ALL_STEPS_DONE = "all_steps_done"
ACHIEVED = "achieved"
MILESTONES = (AGREED, FIRST_CHECK_IN, ALL_STEPS_DONE, ACHIEVED)


def milestone_key(goal_id: str, milestone: str, user_id: str) -> str:
    return f"{REWARD_KIND}:{goal_id}:{milestone}:{user_id}"


async def reward_milestone(session: AsyncSession, goal: Goal, milestone: str, user_id: str) -> None:
    await record_reward(session, REWARD_KIND, user_id, milestone_key(goal.id, milestone, user_id),
                        {"goal_id": goal.id, "room_id": goal.room_id, "milestone": milestone})
