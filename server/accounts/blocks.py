"""Blocking: one person shuts another out of every direct way to reach them.

A block works in both directions (the blocked person cannot reach the blocker, and the blocker
does not reach them by mistake): no message in a room only the two share, no call to them, no
booking and no match request between them. In a group room both stay members (the group's
moderators keep it safe), but a call started there does not ring the other. The blocked person is
not told; what they try is refused as if the other were unavailable.

This sits with the people (accounts), below the features that must respect it: chat (a pre-send
check), calls, scheduling and mentorship all ask here.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import TYPE_CHECKING, Iterable

from sqlalchemy import delete, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from server.core.audit import record_audit
from server.core.errors import Forbidden, InvalidPayload, NotFound
from server.core.i18n import N_
from server.storage.models import Membership, Room, User, UserBlock

if TYPE_CHECKING:
    from server.accounts.users import AuthUser
    from server.services import Services

MAX_BLOCKS = 1000
BLOCKED_MESSAGE = N_("You cannot contact this person.")


class Blocked(Forbidden):
    """Refused because one of the two blocked the other; the code is the same both ways, so the
    blocked person cannot tell who did."""

    code = "blocked"

    def __init__(self) -> None:
        super().__init__(BLOCKED_MESSAGE)


async def blocked_among(session: AsyncSession, user_id: str, others: Iterable[str]) -> set[str]:
    """The people among ``others`` who blocked ``user_id`` or whom ``user_id`` blocked."""
    ids = [o for o in dict.fromkeys(others) if o != user_id]
    if not ids:
        return set()
    rows = await session.execute(
        select(UserBlock.blocker_id, UserBlock.blocked_id).where(or_(
            (UserBlock.blocker_id == user_id) & UserBlock.blocked_id.in_(ids),
            (UserBlock.blocked_id == user_id) & UserBlock.blocker_id.in_(ids),
        ))
    )
    return {blocked if blocker == user_id else blocker for blocker, blocked in rows}


async def everyone_blocked_with(session: AsyncSession, user_id: str) -> set[str]:
    """Everyone ``user_id`` blocked or was blocked by (for hiding them from suggestions)."""
    rows = await session.execute(
        select(UserBlock.blocker_id, UserBlock.blocked_id).where(
            or_(UserBlock.blocker_id == user_id, UserBlock.blocked_id == user_id))
    )
    return {blocked if blocker == user_id else blocker for blocker, blocked in rows}


async def refuse_if_blocked(session: AsyncSession, user_id: str, other_id: str) -> None:
    """Raise ``Blocked`` when either of the two blocked the other."""
    if await blocked_among(session, user_id, [other_id]):
        raise Blocked()


async def refuse_blocked_direct_message(services: "Services", room: Room, sender: "AuthUser") -> None:
    """A pre-send check (server/chat/message_hooks.py): no message in a direct room whose other
    member blocked the sender or was blocked by them."""
    if room.kind != "direct":
        return
    async with services.db.read() as session:
        others = await session.scalars(select(Membership.user_id).where(Membership.room_id == room.id, Membership.user_id != sender.id))
        if await blocked_among(session, sender.id, list(others)):
            raise Blocked()


async def block(session: AsyncSession, blocker: "AuthUser", blocked_id: str) -> bool:
    """Block someone; returns False when they were blocked already."""
    if blocked_id == blocker.id:
        raise InvalidPayload("You cannot block yourself.")
    if not isinstance(blocked_id, str) or len(blocked_id) > 64 or await session.get(User, blocked_id) is None:
        raise NotFound("No such user.")
    if await session.get(UserBlock, (blocker.id, blocked_id)) is not None:
        return False
    count = await session.scalar(select(func.count()).select_from(UserBlock).where(UserBlock.blocker_id == blocker.id))
    if (count or 0) >= MAX_BLOCKS:
        raise InvalidPayload("You have blocked the most people one account can.")
    session.add(UserBlock(blocker_id=blocker.id, blocked_id=blocked_id, created_at=datetime.now(timezone.utc)))
    await record_audit(session, blocker.id, "user.block", target_id=blocked_id)
    return True


async def unblock(session: AsyncSession, blocker: "AuthUser", blocked_id: str) -> bool:
    result = await session.execute(delete(UserBlock).where(UserBlock.blocker_id == blocker.id, UserBlock.blocked_id == blocked_id))
    if result.rowcount:
        await record_audit(session, blocker.id, "user.unblock", target_id=blocked_id)
    return bool(result.rowcount)


async def blocked_by(session: AsyncSession, user_id: str) -> list[str]:
    """Whom ``user_id`` blocked, oldest first (never who blocked them)."""
    return list(await session.scalars(
        select(UserBlock.blocked_id).where(UserBlock.blocker_id == user_id).order_by(UserBlock.created_at)))


BLOCK_MESSAGES: tuple[str, ...] = (
    N_("You cannot block yourself."),
    N_("You have blocked the most people one account can."),
)
