"""Emoji reactions: a member adds or takes back one emoji on a message of their room.

A reaction is as telling as a reply, so its emoji is sealed with the room key like a body; the
row also carries a keyed digest (``tag``) so the database keeps one reaction per person, message
and emoji without learning the emoji. Every change goes to the room as ``message:reactions``
with the message's whole tally, so a client that missed one catches up with the next; history
pages carry the same tally on each message.
"""

from __future__ import annotations

import hashlib
import hmac
from collections import defaultdict
from typing import TYPE_CHECKING, Any

import msgspec
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from server.core.errors import InvalidPayload, NotFound
from server.core.i18n import N_
from server.storage.models import Message, MessageReaction, Room, new_id
from server.transport.addressing import socket_room
from server.transport.events import EventContext, EventRouter

from .room_access import require_member

if TYPE_CHECKING:
    from server.services import Services

router = EventRouter()

# The palette the client offers; a fixed set keeps reactions kind and the payload small.
EMOJI = ("👍", "❤️", "🙏", "😊", "😢", "💪")
REACTION_RECORD = "reaction:{id}"

NOT_AN_EMOJI = N_("Choose one of the offered reactions.")
NO_SUCH_MESSAGE = N_("No such message in this conversation.")


class ToggleReaction(msgspec.Struct, forbid_unknown_fields=True):
    room_id: str
    message_id: str
    emoji: str


def _tag(services: "Services", message_id: str, emoji: str) -> str:
    key = services.keyring.derive("reaction-tag")
    return hmac.new(key, f"{message_id}\0{emoji}".encode(), hashlib.sha256).hexdigest()


def _tally(services: "Services", room: Room, rows: list[MessageReaction]) -> dict[str, dict[str, list[str]]]:
    """message id → emoji → the ids of who reacted, oldest first."""
    tally: dict[str, dict[str, list[str]]] = defaultdict(dict)
    for row in sorted(rows, key=lambda r: r.created_at):
        emoji = services.keyring.open(room.id, room.wrapped_key, REACTION_RECORD.format(id=row.id), row.nonce, row.ciphertext)
        tally[row.message_id].setdefault(emoji, []).append(row.user_id)
    return tally


async def toggle(services: "Services", user_id: str, p: ToggleReaction) -> dict[str, Any]:
    """Adds the emoji, or takes it back when this person had already added it."""
    if p.emoji not in EMOJI:
        raise InvalidPayload(NOT_AN_EMOJI, code="invalid_reaction")
    tag = _tag(services, p.message_id, p.emoji)
    try:
        async with services.db.transaction() as s:
            room, _m = await require_member(s, p.room_id, user_id)
            message = await s.get(Message, p.message_id) if len(p.message_id) <= 32 else None
            if message is None or message.room_id != room.id or message.deleted_at is not None:
                raise NotFound(NO_SUCH_MESSAGE)
            seq = message.seq
            removed = await s.execute(
                delete(MessageReaction).where(
                    MessageReaction.message_id == message.id, MessageReaction.user_id == user_id, MessageReaction.tag == tag
                )
            )
            if not removed.rowcount:
                reaction_id = new_id()
                nonce, ciphertext = services.keyring.seal(room.id, room.wrapped_key, REACTION_RECORD.format(id=reaction_id), p.emoji)
                s.add(MessageReaction(id=reaction_id, room_id=room.id, message_id=message.id, user_id=user_id, tag=tag,
                                      nonce=nonce, ciphertext=ciphertext))
    except IntegrityError:
        # The same person's same tap raced in on another connection: it is there once already.
        pass
    return await _announce(services, p.room_id, p.message_id, seq)


async def _announce(services: "Services", room_id: str, message_id: str, seq: int) -> dict[str, Any]:
    async with services.db.read() as s:
        room = await s.get(Room, room_id)
        rows = list(await s.scalars(select(MessageReaction).where(MessageReaction.message_id == message_id)))
        tally = _tally(services, room, rows)
    view = {"room_id": room_id, "message_id": message_id, "seq": seq, "reactions": tally.get(message_id, {})}
    await services.sio.emit("message:reactions", view, to=socket_room(room_id))
    return view


async def attach_reactions(services: "Services", messages: list[dict[str, Any]]) -> None:
    """A ``reactions`` tally (emoji → who) on each message of a page of history."""
    for message in messages:
        message["reactions"] = {}
    if not messages:
        return
    room_id = messages[0]["room_id"]
    async with services.db.read() as s:
        room = await s.get(Room, room_id)
        rows = list(await s.scalars(
            select(MessageReaction).where(MessageReaction.message_id.in_([m["id"] for m in messages]))
        ))
        if not rows:
            return
        tally = _tally(services, room, rows)
    for message in messages:
        message["reactions"] = tally.get(message["id"], {})


@router.on("reaction:toggle", ToggleReaction, ordered=True)
async def on_toggle(ctx: EventContext, p: ToggleReaction) -> dict[str, Any]:
    return {"reaction": await toggle(ctx.services, ctx.user.id, p)}
