"""A group session's agenda: the leader posts the items and moves through them; everyone sees
the current item live (``group:action``) and on joining (``room.settings.group.agenda``)."""

from __future__ import annotations

from typing import Any

import msgspec

from server.chat.room_access import RoomOnly
from server.core.errors import Conflict, InvalidPayload
from server.transport.events import EventContext, EventRouter

from .state import GroupTx, group_action

router = EventRouter()

MAX_ITEMS = 30
MAX_ITEM_CHARS = 200


class SetAgenda(msgspec.Struct, forbid_unknown_fields=True):
    room_id: str
    items: list[str]


class GotoItem(msgspec.Struct, forbid_unknown_fields=True):
    room_id: str
    index: int


def _move_to(g: GroupTx, index: int, user_id: str) -> None:
    agenda = g.state["agenda"]
    if not agenda["items"]:
        raise Conflict("There is no agenda yet.", code="no_agenda")
    if not 0 <= index < len(agenda["items"]):
        raise Conflict(f"The agenda has items 0 to {len(agenda['items']) - 1}.", code="agenda_end")
    agenda.update(current=index, updated_by=user_id, updated_at=g.at.isoformat())


@router.on("agenda:set", SetAgenda)
async def on_agenda_set(ctx: EventContext, p: SetAgenda) -> dict[str, Any]:
    """Replace the agenda; the session starts at its first item (an empty list clears it)."""
    items = [item.strip() for item in p.items]
    if len(items) > MAX_ITEMS or any(not item or len(item) > MAX_ITEM_CHARS for item in items):
        raise InvalidPayload(f"An agenda has at most {MAX_ITEMS} non-empty items of at most {MAX_ITEM_CHARS} characters.")
    async with group_action(ctx.services, p.room_id, ctx.user.id, permission="agenda") as g:
        g.state["agenda"] = {
            "items": items, "current": 0 if items else None, "updated_by": ctx.user.id, "updated_at": g.at.isoformat(),
        }
        await g.record("agenda.set", detail={"items": len(items)})
    return {"group": g.view}


@router.on("agenda:next", RoomOnly)
async def on_agenda_next(ctx: EventContext, p: RoomOnly) -> dict[str, Any]:
    async with group_action(ctx.services, p.room_id, ctx.user.id, permission="agenda") as g:
        current = g.state["agenda"]["current"]
        _move_to(g, 0 if current is None else current + 1, ctx.user.id)
        await g.record("agenda.move", detail={"current": g.state["agenda"]["current"]})
    return {"group": g.view}


@router.on("agenda:goto", GotoItem)
async def on_agenda_goto(ctx: EventContext, p: GotoItem) -> dict[str, Any]:
    async with group_action(ctx.services, p.room_id, ctx.user.id, permission="agenda") as g:
        _move_to(g, p.index, ctx.user.id)
        await g.record("agenda.move", detail={"current": p.index})
    return {"group": g.view}
