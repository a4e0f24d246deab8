"""A person's right to a copy of their data and to be forgotten (GDPR articles 15, 17 and 20).

Both run from the administrator's command line (``python -m server users export|delete``) and
leave an audit entry in the same transaction as the access itself.

Deleting a person:
- their profile is blanked and the account disabled; the row stays, anonymised, because other
  people's history still names a sender (shown as "Deleted user"), and its removal would
  renumber nothing but would break those references;
- every row that is only theirs (tables whose foreign key to the user cascades: memberships,
  availability, matching profile, calendar feed, crisis alerts about their messages, ...) is
  removed, found from the schema so a feature's new table is covered without editing this file;
- their messages in rooms that others still use become tombstones (body gone, seq kept, so the
  others' history stays gap-free);
- rooms where they were the last remaining member are crypto-shredded: the room's wrapped data
  key is destroyed, so the ciphertext is unreadable wherever a copy of it survives;
- what other features keep beyond rows (``Services.personal_data_erasers``, e.g. the blobs of the
  files they shared) is erased in the same transaction, before their rows go.
"""

from __future__ import annotations

import getpass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from server.chat.room_text import open_room_text, shred_room_text
from server.core.audit import record_audit
from server.core.errors import NotFound
from server.storage.models import Base, Membership, Message, Room, User
from server.transport.connections import publish_disconnect_user

if TYPE_CHECKING:
    from server.services import Services

DELETED_DISPLAY_NAME = "Deleted user"


def admin_detail() -> dict[str, str]:
    """Who ran a command-line privileged action: the operating-system account, for the audit log."""
    try:
        return {"via": "cli", "os_user": getpass.getuser()}
    except Exception:
        return {"via": "cli"}


async def _user_by_username(s: AsyncSession, username: str) -> User:
    row = await s.scalar(select(User).where(User.username == username.strip().lower()))
    if row is None:
        raise NotFound("No such user.")
    return row


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


async def export_user(services: "Services", username: str, *, actor_id: str | None = None) -> dict[str, Any]:
    """Everything we hold about one person, readable: profile, memberships, their messages decrypted,
    and what other features keep about them (``Services.personal_data``, e.g. their safety plan)."""
    chat = services.messages
    async with services.db.transaction() as s:
        user = await _user_by_username(s, username)
        memberships = list(await s.execute(
            select(Membership, Room).join(Room, Room.id == Membership.room_id).where(Membership.user_id == user.id)
            .order_by(Membership.joined_at)
        ))
        rows = list(await s.execute(
            select(Message, Room).join(Room, Room.id == Message.room_id).where(Message.sender_id == user.id)
            .order_by(Message.created_at, Message.seq)
        ))
        messages = []
        for message, room in rows:
            body = None
            if room.wrapped_key is not None:
                body = chat.decrypt(room, message)
            messages.append({
                "room_id": room.id, "seq": message.seq, "body": body, "language": message.language,
                "created_at": _iso(message.created_at), "edited_at": _iso(message.edited_at),
                "deleted": message.deleted_at is not None,
            })
        await record_audit(s, actor_id, "privacy.export", target_id=user.id,
                           detail={**admin_detail(), "messages": len(messages), "rooms": len(memberships)})
        export = {
            "exported_at": datetime.now(timezone.utc).isoformat(),
            "profile": {
                "id": user.id, "username": user.username, "display_name": user.display_name, "role": user.role,
                "languages": list(user.languages or ()), "locale": user.locale, "country": user.country,
                "timezone": user.timezone, "translate_messages": user.translate_messages, "pseudonym": user.pseudonym,
                "banned": user.banned, "created_at": _iso(user.created_at),
            },
            "memberships": [
                {"room_id": room.id, "kind": room.kind, "title": open_room_text(services.keyring, room).title, "room_role": m.role,
                 "joined_at": _iso(m.joined_at), "last_read_seq": m.last_read_seq}
                for m, room in memberships
            ],
            "messages": messages,
        }
    for section, read in services.personal_data.items():
        export[section] = await read(user.id)
    return export


def _tables_owned_by_user() -> list[Any]:
    """Every (table, column) whose foreign key to users.id cascades: rows that are only this person's."""
    owned = []
    for table in Base.metadata.sorted_tables:
        if table.name == User.__tablename__:
            continue
        for fk in table.foreign_keys:
            if fk.column.table.name == User.__tablename__ and (fk.ondelete or "").upper() == "CASCADE":
                owned.append((table, fk.parent))
    return owned


async def delete_user(services: "Services", username: str, *, actor_id: str | None = None) -> dict[str, int]:
    """Forget one person (see the module docstring); returns what was done, for the operator."""
    now = datetime.now(timezone.utc)
    async with services.db.transaction() as s:
        user = await _user_by_username(s, username)
        room_ids = list(await s.scalars(select(Membership.room_id).where(Membership.user_id == user.id)))
        others = dict(list(await s.execute(
            select(Membership.room_id, func.count()).where(Membership.room_id.in_(room_ids), Membership.user_id != user.id)
            .group_by(Membership.room_id)
        ))) if room_ids else {}
        sole_rooms = [rid for rid in room_ids if not others.get(rid)]
        gone = Message.sender_id == user.id
        if sole_rooms:
            gone = gone | Message.room_id.in_(sole_rooms)
            for room in await s.scalars(select(Room).where(Room.id.in_(sole_rooms))):
                room.wrapped_key = None
                shred_room_text(room)
                services.keyring.forget_room(room.id)
        tombstoned = 0
        for message in await s.scalars(select(Message).where(gone)):
            tombstoned += message.ciphertext is not None or message.sealed is not None
            message.nonce = None
            message.ciphertext = None
            message.sealed = None  # a private room's envelope: unreadable here, but still theirs
            message.deleted_at = message.deleted_at or now
        erased = {f"{name}_erased": await erase(s, user.id, sole_rooms) for name, erase in services.personal_data_erasers.items()}
        removed = 0
        for table, column in _tables_owned_by_user():
            result = await s.execute(delete(table).where(column == user.id))
            removed += result.rowcount or 0
        user.username = f"deleted-{user.id[:16]}"
        user.display_name = DELETED_DISPLAY_NAME
        user.password_hash = "!"  # matches no password: argon2 refuses to verify it
        user.languages = []
        user.country = ""
        user.locale = "en"
        user.timezone = "UTC"
        user.translate_messages = False
        user.pseudonym = None
        user.banned = True
        user.token_epoch += 1
        summary = {"rooms_shredded": len(sole_rooms), "messages_removed": tombstoned, "rows_removed": removed, **erased}
        await record_audit(s, actor_id, "privacy.delete", target_id=user.id, detail={**admin_detail(), **summary})
        user_id = user.id
    await publish_disconnect_user(services.settings, user_id)
    return {"user_id": user_id, **summary}  # type: ignore[dict-item]
