"""Who may read a room, and the room as its members see it.

Every feature that touches a room goes through ``require_member``; it sits below the features
(it needs only storage), so the message store, presence, groups, calls and crisis can all use
it without importing one another.
"""

from __future__ import annotations

from typing import Any

import msgspec
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from server.accounts.users import public_identity
from server.core.errors import Forbidden, NotFound
from server.storage.database import session_keyring
from server.storage.models import Membership, Room, User

from .room_text import open_room_text, settings_view


class RoomOnly(msgspec.Struct, forbid_unknown_fields=True):
    """The payload of every event that names just a room."""

    room_id: str


class RoomUser(msgspec.Struct, forbid_unknown_fields=True):
    """The payload of every event that names a room and one person in it."""

    room_id: str
    user_id: str



async def require_member(session: AsyncSession, room_id: str, user_id: str) -> tuple[Room, Membership]:
    """The room and the caller's membership, or one error that does not reveal whether the room exists."""
    if not isinstance(room_id, str) or len(room_id) > 64:
        raise NotFound("That room does not exist or you are not a member.")
    membership = await session.get(Membership, (room_id, user_id))
    room = await session.get(Room, room_id) if membership else None
    if membership is None or room is None:
        raise Forbidden("That room does not exist or you are not a member.")
    return room, membership


async def member_ids(session: AsyncSession, room_id: str) -> list[str]:
    return list(await session.scalars(select(Membership.user_id).where(Membership.room_id == room_id)))


async def room_view(session: AsyncSession, room: Room) -> dict[str, Any]:
    """The room as its members see it, title and agenda opened."""
    text = open_room_text(session_keyring(session), room)
    rows = await session.execute(
        select(User.id, User.username, User.display_name, User.role, User.pseudonym, Membership.role, Membership.last_read_seq)
        .join(Membership, Membership.user_id == User.id)
        .where(Membership.room_id == room.id)
        .order_by(Membership.joined_at)
    )
    return {
        "id": room.id,
        "kind": room.kind,
        "title": text.title,
        "last_seq": room.last_seq,
        "safety_monitoring": room.safety_monitoring,
        "private": bool(room.private),
        "settings": settings_view(room.settings or {}, text),
        "created_at": room.created_at.isoformat(),
        "members": [
            {**public_identity(uid, uname, dname, urole, pseudonym), "room_role": mrole, "last_read_seq": lrs}
            for uid, uname, dname, urole, pseudonym, mrole, lrs in rows
        ],
    }
