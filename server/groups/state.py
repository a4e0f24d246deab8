"""A group's live state and the one way to change it.

The state (program, lock, pins, slow mode, hand-raise queue, agenda, session, leadership
hand-over) lives in ``Room.settings["group"]``: it survives restarts, every server process reads
the same row, and it reaches clients with the room itself (``room:join``, ``room:list``,
``room:added``). The agenda's items are the one part sealed with the room key instead
(``room_text.py``): they say what the group talks about. Every change goes through
``group_action``: it locks the room row, so concurrent actions from several processes apply one
after the other, writes the audit entry in the same transaction, and only after the commit tells
the room (``group:action``).
"""

from __future__ import annotations

import contextlib
import copy
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, AsyncIterator

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from server.chat.room_text import RoomText, open_room_text, seal_room_text, settings_to_store
from server.core.audit import record_audit
from server.core.errors import AppError, Conflict, Forbidden, InvalidPayload
from server.storage.models import Membership, Room
from server.transport.addressing import socket_room

from .roles import LEADER, require_permission

if TYPE_CHECKING:
    from server.core.config import Settings
    from server.core.keyring import Keyring
    from server.services import Services

DEFAULT_PROGRAM = "general"
PROGRAM_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,31}$")


@dataclass(frozen=True)
class GroupSizes:
    """Participants allowed per program type (leader included), parsed once from Settings."""

    default: tuple[int, int]
    programs: dict[str, tuple[int, int]]

    @classmethod
    def from_settings(cls, settings: "Settings") -> "GroupSizes":
        """Parse ``group_program_sizes`` ("circle=4-6,workshop=6-12"); a bad value stops the start."""
        default = _checked_range("default", settings.group_min_participants, settings.group_max_participants)
        programs: dict[str, tuple[int, int]] = {DEFAULT_PROGRAM: default}
        for part in filter(None, (p.strip() for p in settings.group_program_sizes.split(","))):
            match = re.fullmatch(r"([a-z0-9][a-z0-9-]{0,31})=(\d+)-(\d+)", part)
            if match is None:
                raise ValueError(f"group_program_sizes: {part!r} is not 'program=min-max'")
            programs[match[1]] = _checked_range(match[1], int(match[2]), int(match[3]))
        return cls(default, programs)

    def for_program(self, program: str) -> tuple[int, int]:
        if program not in self.programs:
            raise InvalidPayload(
                f"Unknown program type {program!r}; known: {', '.join(sorted(self.programs))}.", code="unknown_program"
            )
        return self.programs[program]


def _checked_range(name: str, low: int, high: int) -> tuple[int, int]:
    if not 1 <= low <= high:
        raise ValueError(f"group size for {name}: need 1 <= min <= max, got {low}-{high}")
    return low, high


def new_group_state(program: str, sizes: tuple[int, int]) -> dict[str, Any]:
    return {
        "program": program,
        "min_participants": sizes[0],
        "max_participants": sizes[1],
        "locked": False,
        "slow_mode_seconds": 0,
        "pins": [],
        "hands": [],
        "agenda": {"items": [], "current": None, "updated_by": None, "updated_at": None},
        "session": {"active": False, "number": 0, "started_at": None},
        # While one member leads a session in the owner's place: who owns the group, who acts,
        # and the role the acting leader returns to.
        "leadership": {"owner_id": None, "acting_id": None, "acting_previous_role": None},
        "rotation": {"enabled": False, "next": 0},
    }


def read_group_state(room: Room, sizes: GroupSizes, text: RoomText) -> dict[str, Any]:
    """The stored state, completed with defaults (rooms made by plain ``room:create`` have none),
    and the agenda items from the room's opened ``text``."""
    stored = (room.settings or {}).get("group") or {}
    program = stored.get("program", DEFAULT_PROGRAM)
    limits = sizes.programs.get(program, sizes.default)
    state = new_group_state(program, limits)
    state.update(copy.deepcopy(stored))
    state["agenda"] = {**state["agenda"], "items": list(text.agenda)}
    return state


def open_group_state(keyring: "Keyring", room: Room, sizes: GroupSizes) -> dict[str, Any]:
    """``read_group_state`` for a room whose text is not open yet."""
    return read_group_state(room, sizes, open_room_text(keyring, room))


def now_utc() -> datetime:
    return datetime.now(timezone.utc)


@dataclass
class GroupTx:
    """One group action in progress: the locked room, the caller's membership and the state."""

    services: "Services"
    session: AsyncSession
    room: Room
    actor_id: str
    membership: Membership | None
    state: dict[str, Any]
    # The room's opened title and agenda, as they were when the row was locked.
    text: RoomText
    at: datetime = field(default_factory=now_utc)
    events: list[dict[str, Any]] = field(default_factory=list)
    view: dict[str, Any] = field(default_factory=dict)

    async def members(self) -> list[Membership]:
        """The room's memberships in joining order (the order rotation follows)."""
        rows = await self.session.scalars(
            select(Membership).where(Membership.room_id == self.room.id).order_by(Membership.joined_at, Membership.user_id)
        )
        return list(rows)

    async def member(self, user_id: str) -> Membership:
        target = await self.session.get(Membership, (self.room.id, user_id)) if len(user_id) <= 64 else None
        if target is None:
            raise AppError("That person is not in this group.", code="not_a_member", status=404)
        return target

    async def participant_count(self) -> int:
        return int(await self.session.scalar(select(func.count()).select_from(Membership).where(Membership.room_id == self.room.id)) or 0)

    async def owner_id(self) -> str | None:
        """The group's own leader: the one a session hand-over returns to."""
        acting_owner = self.state["leadership"].get("owner_id")
        if acting_owner:
            return acting_owner
        return await self.session.scalar(
            select(Membership.user_id).where(Membership.room_id == self.room.id, Membership.role == LEADER).limit(1)
        )

    def require_open_for_joining(self, participants: int) -> None:
        if self.state["locked"]:
            raise Forbidden("This group is locked; nobody new can join right now.", code="room_locked")
        if participants >= self.state["max_participants"]:
            raise Conflict(
                f"This group is full ({self.state['max_participants']} participants).", code="room_full",
                details={"max_participants": self.state["max_participants"]},
            )

    async def record(
        self, action: str, *, target_id: str | None = None, detail: dict[str, Any] | None = None, broadcast: bool = True
    ) -> None:
        """Audit the action now (same transaction); announce it to the room after the commit."""
        await record_audit(self.session, self.actor_id, f"group.{action}", room_id=self.room.id, target_id=target_id, detail=detail)
        if broadcast:
            self.events.append({
                "room_id": self.room.id, "action": action, "actor_id": self.actor_id, "target_id": target_id,
                "detail": detail or {}, "at": self.at.isoformat(),
            })

    async def finish(self) -> None:
        """Write the state back (a new dict, so the JSON column sees the change; a changed agenda
        sealed again) and build the view."""
        items = list(self.state["agenda"]["items"])
        if items != self.text.agenda:
            self.text = RoomText(title=self.text.title, agenda=items)
            seal_room_text(self.services.keyring, self.room, self.text)
        self.room.settings = settings_to_store({**(self.room.settings or {}), "group": self.state})
        await self.session.flush()
        self.view = await group_view(self.session, self.room, self.state)


async def group_view(session: AsyncSession, room: Room, state: dict[str, Any]) -> dict[str, Any]:
    """What clients see of a group: its state plus each member's role and mute."""
    rows = await session.scalars(
        select(Membership).where(Membership.room_id == room.id).order_by(Membership.joined_at, Membership.user_id)
    )
    now = now_utc()
    members = [
        {
            "user_id": m.user_id,
            "role": m.role,
            "muted_until": m.muted_until.isoformat() if m.muted_until and m.muted_until > now else None,
        }
        for m in rows
    ]
    return {"room_id": room.id, **state, "participants": len(members), "members": members}


async def open_group(
    services: "Services", session: AsyncSession, room_id: str, user_id: str, *, permission: str | None = None,
    member_required: bool = True,
) -> GroupTx:
    """Lock the group's row and load it with the caller's membership and the state."""
    if not isinstance(room_id, str) or len(room_id) > 64:
        raise Forbidden("That group does not exist or you are not a member.")
    # The row lock orders concurrent group actions across processes (SQLite's BEGIN IMMEDIATE
    # already serializes writers there).
    room = await session.scalar(select(Room).where(Room.id == room_id).with_for_update())
    membership = await session.get(Membership, (room_id, user_id)) if room is not None else None
    if room is None or room.kind != "group" or (member_required and membership is None):
        raise Forbidden("That group does not exist or you are not a member.")
    if permission is not None:
        require_permission(membership, permission)
    text = open_room_text(services.keyring, room)
    return GroupTx(services, session, room, user_id, membership, read_group_state(room, services.groups.sizes, text), text)


@contextlib.asynccontextmanager
async def group_action(
    services: "Services", room_id: str, user_id: str, *, permission: str | None = None, member_required: bool = True
) -> AsyncIterator[GroupTx]:
    """Run one group change atomically, then announce each recorded action to the room."""
    async with services.db.transaction() as s:
        tx = await open_group(services, s, room_id, user_id, permission=permission, member_required=member_required)
        yield tx
        await tx.finish()
    for event in tx.events:
        await services.sio.emit("group:action", {**event, "group": tx.view}, to=socket_room(room_id))
