"""Replies: a message may answer an earlier message of the same room.

The answered message is named by id on ``message:send`` (``reply_to``) and checked inside the
storing transaction, so a reply can never point into a room its writer is not in. Readers get
``reply_to`` on the message; the quoted words come from the answered message itself (so an edit
or a delete of the original shows in every quote).
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from server.core.errors import InvalidPayload
from server.core.i18n import N_
from server.storage.models import Message

NOT_IN_THIS_ROOM = N_("You can only reply to a message of this conversation.")


async def checked_reply_to(s: AsyncSession, room_id: str, reply_to: str) -> str | None:
    """The id of the answered message, None for no reply; InvalidPayload if it is not of this room."""
    if not reply_to:
        return None
    found = await s.scalar(select(Message.id).where(Message.id == reply_to[:32], Message.room_id == room_id))
    if found is None or len(reply_to) > 32:
        raise InvalidPayload(NOT_IN_THIS_ROOM, code="invalid_reply")
    return found
