"""Goals in a mentorship: proposed by one, agreed by the other, worked through step by step, checked
in on by the mentee (a 0–10 rating and a note, at most once a day in the mentee's own time zone),
then achieved or dropped.

Changing a goal's terms (title, why, target date, steps) sends it back to "proposed" by whoever
changed them, so both always agree on what is being worked toward; ticking a step off does not.
Everything the two wrote is sealed with the room key (record ``goal:<id>``, ``goal-check-in:<id>``);
every change reaches both of them, and only them, as ``goal:changed``.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timezone
from typing import TYPE_CHECKING, Annotated, Any, Literal
from zoneinfo import ZoneInfo

import msgspec
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from server.core.audit import record_audit
from server.core.errors import Conflict, Forbidden, InvalidPayload, NotFound
from server.core.i18n import N_
from server.core.roles import MEMBER
from server.storage.models import Goal, GoalCheckIn, Membership, Room, User, new_id
from server.transport.addressing import user_room

from .mentorship import Mentorship, require_mentorship, require_party
from .milestones import ACHIEVED, AGREED, ALL_STEPS_DONE, FIRST_CHECK_IN, reward_milestone

if TYPE_CHECKING:
    from server.services import Services

PROPOSED, ACTIVE, DONE, DROPPED = "proposed", "active", "achieved", "dropped"
OPEN_STATUSES = (PROPOSED, ACTIVE)
MAX_OPEN_GOALS = 10
MAX_STEPS = 12
GOAL_RECORD = "goal:{id}"
CHECK_IN_RECORD = "goal-check-in:{id}"
ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")

Title = Annotated[str, msgspec.Meta(max_length=120)]
Why = Annotated[str, msgspec.Meta(max_length=1000)]
StepText = Annotated[str, msgspec.Meta(max_length=200)]

BAD_TITLE = N_("A goal has a title of 1 to 120 characters.")
BAD_DATE = N_("The target date is a day such as 2027-03-31, today or later.")
TOO_MANY_OPEN = N_("A mentorship works on at most {count} goals at a time; close one first.")
NO_SUCH_GOAL = N_("No such goal in this conversation.")
NOT_OPEN = N_("This goal is closed.")
NOT_ACTIVE = N_("This goal is not agreed yet: both of you agree before working on it.")
AGREE_OTHER = N_("The other one of you agrees to a goal you proposed.")
ONLY_MENTEE_CHECKS_IN = N_("Only the mentee checks in on a goal.")
ALREADY_CHECKED_IN = N_("You have already checked in on this goal today.")
NO_SUCH_STEP = N_("No such step.")
NOT_YET_ACTIVE_ACHIEVED = N_("Only an agreed goal can be achieved.")
PRIVATE_ROOM = N_("Goals are not available in a private room: the server could read them.")
REVIEW_REASON = N_("Give the reason for looking (10 to 500 characters); it is recorded.")


class Step(msgspec.Struct, forbid_unknown_fields=True):
    text: StepText
    done: bool = False


class GoalTerms(msgspec.Struct, forbid_unknown_fields=True):
    room_id: str
    title: Title
    target_date: str
    why: Why = ""
    steps: Annotated[list[Step], msgspec.Meta(max_length=MAX_STEPS)] = []


class UpdateGoal(msgspec.Struct, forbid_unknown_fields=True):
    room_id: str
    goal_id: str
    title: Title
    target_date: str
    why: Why = ""
    steps: Annotated[list[Step], msgspec.Meta(max_length=MAX_STEPS)] = []


class GoalRef(msgspec.Struct, forbid_unknown_fields=True):
    room_id: str
    goal_id: str


class SetStep(msgspec.Struct, forbid_unknown_fields=True):
    room_id: str
    goal_id: str
    index: int
    done: bool


class CheckIn(msgspec.Struct, forbid_unknown_fields=True):
    room_id: str
    goal_id: str
    rating: Annotated[int, msgspec.Meta(ge=0, le=10)]
    note: Annotated[str, msgspec.Meta(max_length=500)] = ""


class CloseGoal(msgspec.Struct, forbid_unknown_fields=True):
    room_id: str
    goal_id: str
    outcome: Literal["achieved", "dropped"]


class ReviewGoals(msgspec.Struct, forbid_unknown_fields=True):
    room_id: str
    reason: str


def local_today(zone_name: str) -> date:
    try:
        zone = ZoneInfo(zone_name or "UTC")
    except (KeyError, ValueError):
        zone = ZoneInfo("UTC")
    return datetime.now(zone).date()


def _terms(title: str, why: str, target_date: str, steps: list[Step], today: date) -> dict[str, Any]:
    """The stored terms of a goal, checked: a title, a target date today or later, non-blank steps."""
    title = title.strip()
    if not title:
        raise InvalidPayload(BAD_TITLE, code="invalid_title")
    if not ISO_DATE.fullmatch(target_date):
        raise InvalidPayload(BAD_DATE, code="invalid_target_date")
    try:
        target = date.fromisoformat(target_date)
    except ValueError:
        raise InvalidPayload(BAD_DATE, code="invalid_target_date") from None
    if target < today:
        raise InvalidPayload(BAD_DATE, code="invalid_target_date")
    return {"title": title, "why": why.strip(), "target_date": target.isoformat(),
            "steps": [{"text": s.text.strip(), "done": s.done} for s in steps if s.text.strip()]}


class Goals:
    """The service: every function takes the caller's id and checks they are one of the two."""

    def __init__(self, services: "Services") -> None:
        self.services = services

    # ---- reading ----

    def _seal_terms(self, room: Room, goal_id: str, terms: dict[str, Any]) -> tuple[bytes, bytes]:
        return self.services.keyring.seal_json(room.id, room.wrapped_key, GOAL_RECORD.format(id=goal_id), terms)

    def _open_terms(self, room: Room, goal: Goal) -> dict[str, Any]:
        return self.services.keyring.open_json(room.id, room.wrapped_key, GOAL_RECORD.format(id=goal.id), goal.nonce, goal.ciphertext)

    async def _view(self, s: AsyncSession, room: Room, goal: Goal, *, with_check_ins: bool = True) -> dict[str, Any]:
        """The goal as the two see it, opened with its room's key."""
        terms = self._open_terms(room, goal)
        view: dict[str, Any] = {
            "id": goal.id, "room_id": goal.room_id, "mentee_id": goal.mentee_id, "status": goal.status,
            "proposed_by": goal.proposed_by, **terms,
            "created_at": goal.created_at.isoformat(), "updated_at": goal.updated_at.isoformat(),
            "agreed_at": goal.agreed_at.isoformat() if goal.agreed_at else None,
            "closed_at": goal.closed_at.isoformat() if goal.closed_at else None,
        }
        if with_check_ins:
            rows = await s.scalars(select(GoalCheckIn).where(GoalCheckIn.goal_id == goal.id).order_by(GoalCheckIn.day))
            view["check_ins"] = [self._check_in_view(room, row) for row in rows]
            zone = await s.scalar(select(User.timezone).where(User.id == goal.mentee_id))
            today = local_today(zone or "UTC").isoformat()
            view["checked_in_today"] = any(c["day"] == today for c in view["check_ins"])
        return view

    def _check_in_view(self, room: Room, row: GoalCheckIn) -> dict[str, Any]:
        sealed = self.services.keyring.open_json(room.id, room.wrapped_key, CHECK_IN_RECORD.format(id=row.id), row.nonce, row.ciphertext)
        return {"id": row.id, "day": row.day.isoformat(), "rating": sealed["rating"], "note": sealed["note"],
                "created_at": row.created_at.isoformat()}

    async def _all(self, s: AsyncSession, m: Mentorship) -> list[dict[str, Any]]:
        goals = await s.scalars(select(Goal).where(Goal.room_id == m.room.id).order_by(Goal.created_at))
        return [await self._view(s, m.room, goal) for goal in goals]

    async def of_room(self, user_id: str, room_id: str) -> dict[str, Any]:
        async with self.services.db.read() as s:
            m = await require_party(s, room_id, user_id)
            return {"mentee_id": m.mentee_id, "mentor_id": m.mentor_id, "goals": await self._all(s, m)}

    async def review(self, staff_id: str, room_id: str, reason: str) -> dict[str, Any]:
        """Staff look into a mentorship's goals; the reading and its reason are audited first."""
        reason = reason.strip()
        if not 10 <= len(reason) <= 500:
            raise InvalidPayload(REVIEW_REASON, code="reason_required")
        async with self.services.db.transaction() as s:
            m = await require_mentorship(s, room_id)
            await record_audit(s, staff_id, "goals.review", room_id=room_id, target_id=m.mentee_id, detail={"reason": reason})
            return {"mentee_id": m.mentee_id, "mentor_id": m.mentor_id, "goals": await self._all(s, m)}

    # ---- changing ----

    async def _goal(self, s: AsyncSession, m: Mentorship, goal_id: str) -> Goal:
        goal = await s.get(Goal, goal_id) if len(goal_id) <= 64 else None
        if goal is None or goal.room_id != m.room.id:
            raise NotFound(NO_SUCH_GOAL)
        return goal

    async def _today_of(self, s: AsyncSession, user_id: str) -> date:
        return local_today(await s.scalar(select(User.timezone).where(User.id == user_id)) or "UTC")

    async def _changed(self, m: Mentorship, view: dict[str, Any]) -> dict[str, Any]:
        """Tell both of them (every device), and nobody else in the room."""
        for user_id in (m.mentee_id, m.mentor_id):
            await self.services.sio.emit("goal:changed", {"room_id": m.room.id, "goal": view}, to=user_room(user_id))
        return view

    async def create(self, user_id: str, p: GoalTerms) -> dict[str, Any]:
        async with self.services.db.transaction() as s:
            m = await require_party(s, p.room_id, user_id)
            if m.room.private:
                raise Conflict(PRIVATE_ROOM, code="private_room")
            terms = _terms(p.title, p.why, p.target_date, p.steps, await self._today_of(s, user_id))
            open_goals = await s.scalar(select(func.count()).select_from(Goal)
                                        .where(Goal.room_id == m.room.id, Goal.status.in_(OPEN_STATUSES)))
            if open_goals >= MAX_OPEN_GOALS:
                raise Conflict(TOO_MANY_OPEN, code="too_many_goals", params={"count": MAX_OPEN_GOALS})
            goal_id = new_id()
            now = datetime.now(timezone.utc)
            nonce, ciphertext = self._seal_terms(m.room, goal_id, terms)
            goal = Goal(id=goal_id, room_id=m.room.id, mentee_id=m.mentee_id, status=PROPOSED, proposed_by=user_id,
                        nonce=nonce, ciphertext=ciphertext, created_at=now, updated_at=now)
            s.add(goal)
            await s.flush()
            view = await self._view(s, m.room, goal)
        return await self._changed(m, view)

    async def update(self, user_id: str, p: UpdateGoal) -> dict[str, Any]:
        """New terms from either of the two: the goal waits for the other one to agree again."""
        async with self.services.db.transaction() as s:
            m = await require_party(s, p.room_id, user_id)
            goal = await self._goal(s, m, p.goal_id)
            if goal.status not in OPEN_STATUSES:
                raise Conflict(NOT_OPEN, code="goal_closed")
            old = self._open_terms(m.room, goal)
            # A target date that was agreed before may lie in the past by now; only a new one is checked.
            earliest = date.min if p.target_date == old["target_date"] else await self._today_of(s, user_id)
            terms = _terms(p.title, p.why, p.target_date, p.steps, earliest)
            if terms != old:
                goal.nonce, goal.ciphertext = self._seal_terms(m.room, goal.id, terms)
                goal.status, goal.proposed_by, goal.agreed_at = PROPOSED, user_id, None
                goal.updated_at = datetime.now(timezone.utc)
            view = await self._view(s, m.room, goal)
        return await self._changed(m, view)

    async def agree(self, user_id: str, p: GoalRef) -> dict[str, Any]:
        async with self.services.db.transaction() as s:
            m = await require_party(s, p.room_id, user_id)
            goal = await self._goal(s, m, p.goal_id)
            if goal.status != PROPOSED:
                raise Conflict(NOT_OPEN, code="goal_not_proposed")
            if goal.proposed_by == user_id:
                raise Forbidden(AGREE_OTHER, code="agree_other")
            goal.status = ACTIVE
            goal.agreed_at = goal.updated_at = datetime.now(timezone.utc)
            await reward_milestone(s, goal, AGREED, m.mentee_id)
            view = await self._view(s, m.room, goal)
        return await self._changed(m, view)

    async def set_step(self, user_id: str, p: SetStep) -> dict[str, Any]:
        async with self.services.db.transaction() as s:
            m = await require_party(s, p.room_id, user_id)
            goal = await self._goal(s, m, p.goal_id)
            if goal.status != ACTIVE:
                raise Conflict(NOT_ACTIVE, code="goal_not_active")
            terms = self._open_terms(m.room, goal)
            if not 0 <= p.index < len(terms["steps"]):
                raise NotFound(NO_SUCH_STEP)
            terms["steps"][p.index]["done"] = p.done
            goal.nonce, goal.ciphertext = self._seal_terms(m.room, goal.id, terms)
            goal.updated_at = datetime.now(timezone.utc)
            if all(step["done"] for step in terms["steps"]):
                await reward_milestone(s, goal, ALL_STEPS_DONE, m.mentee_id)
            view = await self._view(s, m.room, goal)
        return await self._changed(m, view)

    async def check_in(self, user_id: str, p: CheckIn, *, day: date | None = None) -> dict[str, Any]:
        """The mentee's check-in for today in their zone. ``day`` is for seeding past check-ins
        through this service layer (tests, imports); no event passes it, so no client can backdate."""
        try:
            async with self.services.db.transaction() as s:
                m = await require_party(s, p.room_id, user_id)
                if user_id != m.mentee_id:
                    raise Forbidden(ONLY_MENTEE_CHECKS_IN, code="mentee_only")
                goal = await self._goal(s, m, p.goal_id)
                if goal.status != ACTIVE:
                    raise Conflict(NOT_ACTIVE, code="goal_not_active")
                check_in_id = new_id()
                nonce, ciphertext = self.services.keyring.seal_json(m.room.id, m.room.wrapped_key, CHECK_IN_RECORD.format(id=check_in_id),
                                                                   {"rating": p.rating, "note": p.note.strip()})
                s.add(GoalCheckIn(id=check_in_id, goal_id=goal.id, day=day or await self._today_of(s, user_id), nonce=nonce,
                                  ciphertext=ciphertext, created_at=datetime.now(timezone.utc)))
                await s.flush()
                await reward_milestone(s, goal, FIRST_CHECK_IN, m.mentee_id)
                view = await self._view(s, m.room, goal)
        except IntegrityError:
            raise Conflict(ALREADY_CHECKED_IN, code="already_checked_in") from None
        return await self._changed(m, view)

    async def close(self, user_id: str, p: CloseGoal) -> dict[str, Any]:
        async with self.services.db.transaction() as s:
            m = await require_party(s, p.room_id, user_id)
            goal = await self._goal(s, m, p.goal_id)
            if goal.status not in OPEN_STATUSES:
                raise Conflict(NOT_OPEN, code="goal_closed")
            if p.outcome == DONE and goal.status != ACTIVE:
                raise Conflict(NOT_YET_ACTIVE_ACHIEVED, code="goal_not_active")
            goal.status = p.outcome
            goal.closed_at = goal.updated_at = datetime.now(timezone.utc)
            if p.outcome == DONE:
                await reward_milestone(s, goal, ACHIEVED, m.mentee_id)
                await reward_milestone(s, goal, ACHIEVED, m.mentor_id)
            view = await self._view(s, m.room, goal)
        return await self._changed(m, view)

    # ---- the person's data ----

    async def of_person(self, user_id: str) -> list[dict[str, Any]]:
        """Their export: a mentee's goals with every check-in; a mentor's goals of their
        mentorships (terms and status: the check-ins are the mentee's)."""
        async with self.services.db.read() as s:
            room_ids = list(await s.scalars(select(Membership.room_id).where(Membership.user_id == user_id, Membership.role == MEMBER)))
            goals = list(await s.scalars(
                select(Goal).where((Goal.mentee_id == user_id) | Goal.room_id.in_(room_ids)).order_by(Goal.created_at)))
            exported = []
            for goal in goals:
                room = await s.get(Room, goal.room_id)
                if room is not None and room.wrapped_key is not None:
                    exported.append(await self._view(s, room, goal, with_check_ins=goal.mentee_id == user_id))
            return exported
