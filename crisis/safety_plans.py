"""A person's safety plan (after the Stanley–Brown safety-planning intervention): warning signs,
coping steps, people and places, professionals to call, making the environment safe, and an
emergency contact.

The writer reads and edits their own plan at any time (``safety_plan:get`` / ``safety_plan:set`` on
the main namespace). A responder reads it only while they hold the claim of an open alert about
that person (``crisis:safety_plan`` on the console), and each reading is audited before the plan is
opened; nobody else can read it, supervisors included: it names the people someone would call and
the means they would put away.

At rest the plan is sealed with a data key of its own, wrapped by the master key like a room's
(record id ``safety-plan:<user id>``), so ``keys rotate-master`` re-wraps it and deleting the
person deletes it, key and all.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import TYPE_CHECKING, Annotated, Any

import msgspec
from sqlalchemy import select

from server.core.audit import record_audit
from server.core.errors import Forbidden, NotFound
from server.storage.models import CrisisAlert, SafetyPlan
from server.transport.events import EventContext, EventRouter

if TYPE_CHECKING:
    from server.accounts.users import AuthUser
    from server.services import Services

router = EventRouter()

LIST_MAX_ITEMS = 10
ITEM_MAX_CHARS = 300
PHONE_MAX_CHARS = 40
PLAN_RECORD = "plan"

Item = Annotated[str, msgspec.Meta(max_length=ITEM_MAX_CHARS)]
Items = Annotated[list[Item], msgspec.Meta(max_length=LIST_MAX_ITEMS)]


class Contact(msgspec.Struct, forbid_unknown_fields=True):
    name: Item
    phone: Annotated[str, msgspec.Meta(max_length=PHONE_MAX_CHARS)]


class Plan(msgspec.Struct, forbid_unknown_fields=True):
    warning_signs: Items = []
    coping: Items = []
    people_places: Items = []
    professionals: Annotated[list[Contact], msgspec.Meta(max_length=LIST_MAX_ITEMS)] = []
    environment: Items = []
    emergency_contact: Contact | None = None


class SetPlan(msgspec.Struct, forbid_unknown_fields=True):
    plan: Plan


def _key_id(user_id: str) -> str:
    return f"safety-plan:{user_id}"


def _clean(plan: Plan) -> dict[str, Any]:
    """The stored form: items trimmed, empty ones dropped."""
    def items(values: list[str]) -> list[str]:
        return [v.strip() for v in values if v.strip()]

    def contact(c: Contact | None) -> dict[str, str] | None:
        return {"name": c.name.strip(), "phone": c.phone.strip()} if c and (c.name.strip() or c.phone.strip()) else None

    return {
        "warning_signs": items(plan.warning_signs),
        "coping": items(plan.coping),
        "people_places": items(plan.people_places),
        "professionals": [p for p in (contact(c) for c in plan.professionals) if p],
        "environment": items(plan.environment),
        "emergency_contact": contact(plan.emergency_contact),
    }


def _open(services: "Services", row: SafetyPlan) -> dict[str, Any]:
    return services.keyring.open_json(_key_id(row.user_id), row.wrapped_key, PLAN_RECORD, row.nonce, row.ciphertext)


async def own_plan(services: "Services", user_id: str) -> dict[str, Any] | None:
    async with services.db.read() as s:
        row = await s.get(SafetyPlan, user_id)
        return _open(services, row) if row is not None else None


async def has_plan(services: "Services", user_id: str) -> bool:
    """Whether the person keeps a plan, for their crisis card ("then the plan"), without opening it."""
    async with services.db.read() as s:
        return await s.scalar(select(SafetyPlan.user_id).where(SafetyPlan.user_id == user_id)) is not None


async def save_plan(services: "Services", user_id: str, plan: Plan) -> dict[str, Any]:
    """Replace the person's plan; the change (never its content) is audited."""
    value = _clean(plan)
    async with services.db.transaction() as s:
        row = await s.get(SafetyPlan, user_id)
        if row is None:
            row = SafetyPlan(user_id=user_id, wrapped_key=services.keyring.new_room_key(_key_id(user_id)))
            s.add(row)
        row.nonce, row.ciphertext = services.keyring.seal_json(_key_id(user_id), row.wrapped_key, PLAN_RECORD, value)
        row.updated_at = datetime.now(timezone.utc)
        await record_audit(s, user_id, "safety_plan.set", target_id=user_id)
    return value


async def plan_for_responder(services: "Services", user: "AuthUser", alert_id: str) -> dict[str, Any] | None:
    """The writer's plan for the responder holding this open alert's claim; audited before it is opened."""
    async with services.db.transaction() as s:
        alert = await s.get(CrisisAlert, alert_id) if 1 <= len(alert_id) <= 64 else None
        if alert is None:
            raise NotFound("No such alert.")
        if alert.status != "claimed" or alert.claimed_by != user.id:
            raise Forbidden("Only the responder holding this open alert may read the writer's safety plan.")
        await record_audit(s, user.id, "crisis.safety_plan_read", room_id=alert.room_id, target_id=alert.id,
                           detail={"writer_id": alert.author_id})
        row = await s.get(SafetyPlan, alert.author_id)
        return _open(services, row) if row is not None else None


@router.on("safety_plan:get")
async def on_get(ctx: EventContext, _p: Any) -> dict[str, Any]:
    return {"plan": await own_plan(ctx.services, ctx.user.id)}


@router.on("safety_plan:set", SetPlan, ordered=True)
async def on_set(ctx: EventContext, p: SetPlan) -> dict[str, Any]:
    return {"plan": await save_plan(ctx.services, ctx.user.id, p.plan)}
