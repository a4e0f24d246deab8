"""The room list's line under each conversation: the newest message, when it came, and how many
messages from others the reader has not read yet.

The preview is opened from the same sealed body as the message and only for a member, so it says
no more than the conversation itself; a long body is cut, a deleted one is named as deleted. A
private room's message is sealed on its sender's device: the server has no words to show, only
that it is there.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select

from server.storage.models import Membership, Message, Room
from server.transport.events import EventContext, EventRouter

if TYPE_CHECKING:
    from server.services import Services

router = EventRouter()

PREVIEW_CHARS = 80


async def previews(services: "Services", user_id: str) -> list[dict[str, Any]]:
    """One preview per room the reader is a member of (rooms without messages included)."""
    out: list[dict[str, Any]] = []
    async with services.db.read() as s:
        rows = (await s.execute(
            select(Room, Membership.last_read_seq).join(Membership, Membership.room_id == Room.id).where(Membership.user_id == user_id)
        )).all()
        for room, last_read in rows:
            last = await s.scalar(select(Message).where(Message.room_id == room.id).order_by(Message.seq.desc()).limit(1))
            unread = await s.scalar(select(func.count()).select_from(Message).where(
                Message.room_id == room.id, Message.seq > last_read, Message.sender_id != user_id, Message.deleted_at.is_(None),
            ))
            preview: dict[str, Any] = {"room_id": room.id, "unread": unread or 0, "last": None}
            if last is not None:
                body = services.messages.decrypt(room, last) if last.deleted_at is None else None
                preview["last"] = {
                    "seq": last.seq, "sender_id": last.sender_id, "kind": last.kind, "deleted": last.deleted_at is not None,
                    "created_at": last.created_at.isoformat(), "sealed": last.sealed is not None,
                    "excerpt": body[:PREVIEW_CHARS] if body else "",
                }
            out.append(preview)
    return out


@router.on("room:previews")
async def on_room_previews(ctx: EventContext, _p: Any) -> dict[str, Any]:
    return {"previews": await previews(ctx.services, ctx.user.id)}
