"""The call state machine: ringing → active → ended, kept in the database so every server
process sees the same calls and the ring timeout fires once.

One call per room at a time: the unique ``active_room_id`` settles glare when two members press
"call" together — the second press joins the first call instead of starting another. Inside a
call, offers/answers/ICE go only to the target participant's connection; simultaneous offers are
resolved by the clients with perfect negotiation, using the ``polite`` flag assigned here (the
caller is impolite, everyone who accepts is polite).
"""

from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from server.accounts.blocks import Blocked, blocked_among
from server.accounts.users import auth_user
from server.chat.messages import SendMessage
from server.chat.room_access import member_ids, require_member
from server.core.errors import AppError, Forbidden, NotFound
from server.storage.models import Call, CallParticipant, Room, User
from server.transport.addressing import user_room

if TYPE_CHECKING:
    from server.accounts.users import AuthUser
    from server.services import Services

LIVE_STATES = ("ringing", "active")
CALL_KIND = "call"  # the message kind that records a call's outcome in its conversation

log = logging.getLogger(__name__)


def call_view(call: Call, participants: list[CallParticipant]) -> dict[str, Any]:
    return {
        "id": call.id,
        "room_id": call.room_id,
        "mode": call.mode,
        "media": call.media,
        "state": call.state,
        "started_by": call.started_by,
        "started_at": call.started_at.isoformat(),
        "end_reason": call.end_reason or None,
        "participants": [{"user_id": p.user_id, "state": p.state, "polite": p.polite} for p in participants],
    }


def call_outcome(call: Call, participants: list[CallParticipant]) -> dict[str, Any]:
    """What the conversation keeps of an ended call: answered ("ended", with its length),
    declined, or missed (nobody answered before the caller gave up or the ring timed out)."""
    answered = any(p.user_id != call.started_by and p.state in ("joined", "left") for p in participants)
    ended_at, started_at = (t if t.tzinfo else t.replace(tzinfo=timezone.utc)
                            for t in (call.ended_at or datetime.now(timezone.utc), call.started_at))
    if answered:
        outcome = "ended"
    else:
        outcome = "declined" if call.end_reason == "declined" else "missed"
    return {"call_id": call.id, "media": call.media, "outcome": outcome,
            "duration_s": max(0, int((ended_at - started_at).total_seconds())) if answered else None}


async def _participants(s: AsyncSession, call_id: str) -> list[CallParticipant]:
    return list(await s.scalars(select(CallParticipant).where(CallParticipant.call_id == call_id)))


class CallService:
    def __init__(self, services: "Services") -> None:
        self.services = services

    async def _notify(self, user_ids: list[str], event: str, data: dict[str, Any]) -> None:
        for uid in user_ids:
            await self.services.sio.emit(event, data, to=user_room(uid))

    async def start(self, user: "AuthUser", sid: str, room_id: str, media: str, mode: str) -> tuple[dict[str, Any], bool]:
        """Returns (call, joined_existing). A group room always uses the server relay."""
        async with self.services.db.transaction() as s:
            room, _m = await require_member(s, room_id, user.id)
            existing = await s.scalar(select(Call).where(Call.active_room_id == room.id))
        if existing is not None:
            return await self.accept(user, sid, existing.id), True
        members = [uid for uid in await self._members(room_id) if uid != user.id]
        async with self.services.db.transaction() as s:
            blocked = await blocked_among(s, user.id, members)
        if blocked and room.kind == "direct":
            raise Blocked()
        # Elsewhere (a group), people who blocked the caller (or whom the caller blocked) are not rung.
        members = [uid for uid in members if uid not in blocked]
        try:
            async with self.services.db.transaction() as s:
                room = await s.get(Room, room_id)
                call = Call(room_id=room_id, active_room_id=room_id, mode="relay" if room.kind == "group" else mode,
                            media=media, state="ringing", started_by=user.id)
                s.add(call)
                await s.flush()
                s.add(CallParticipant(call_id=call.id, user_id=user.id, state="joined", sid=sid, polite=False))
                for uid in members:
                    s.add(CallParticipant(call_id=call.id, user_id=uid, state="invited", polite=True))
                await s.flush()
                view = call_view(call, await _participants(s, call.id))
        except IntegrityError:
            # Glare: someone else's call in this room committed first; join it.
            async with self.services.db.transaction() as s:
                existing = await s.scalar(select(Call).where(Call.active_room_id == room_id))
            if existing is None:
                raise AppError("The call could not be started; please retry.", code="call_busy", status=409) from None
            return await self.accept(user, sid, existing.id), True
        await self._notify(members, "call:ring", {"call": view, "from": user.public()})
        return view, False

    async def _members(self, room_id: str) -> list[str]:
        async with self.services.db.transaction() as s:
            return await member_ids(s, room_id)

    async def _load(self, s: AsyncSession, call_id: str, user_id: str) -> tuple[Call, CallParticipant]:
        call = await s.get(Call, call_id) if isinstance(call_id, str) and len(call_id) <= 64 else None
        participant = await s.get(CallParticipant, (call_id, user_id)) if call else None
        if call is None or participant is None:
            raise Forbidden("That call does not exist or you are not part of it.")
        await require_member(s, call.room_id, user_id)
        return call, participant

    async def accept(self, user: "AuthUser", sid: str, call_id: str) -> dict[str, Any]:
        async with self.services.db.transaction() as s:
            call, me = await self._load(s, call_id, user.id)
            if call.state == "ended":
                raise AppError("That call has ended.", code="call_ended", status=409)
            me.state, me.sid, me.updated_at = "joined", sid, datetime.now(timezone.utc)
            call.state = "active"
            participants = await _participants(s, call.id)
            view = call_view(call, participants)
            others = [p.user_id for p in participants if p.user_id != user.id and p.state in ("joined", "invited")]
        await self._notify(others, "call:accepted", {"call_id": call_id, "user_id": user.id, "polite": me.polite, "call": view})
        # Stop the ringing on this user's other devices.
        await self.services.sio.emit("call:answered_elsewhere", {"call_id": call_id}, to=user_room(user.id), skip_sid=sid)
        return view

    async def decline(self, user: "AuthUser", call_id: str) -> dict[str, Any]:
        async with self.services.db.transaction() as s:
            call, me = await self._load(s, call_id, user.id)
            if me.state != "invited":
                raise AppError("You are not being called.", code="not_ringing", status=409)
            me.state = "declined"
            participants = await _participants(s, call.id)
            still_possible = [p for p in participants if p.user_id != call.started_by and p.state in ("invited", "joined")]
            ended = not still_possible
            if ended:
                self._end(call, "declined")
            outcome = call_outcome(call, participants) if ended else None
            view = call_view(call, participants)
        everyone = [p.user_id for p in participants]
        await self._notify(everyone, "call:declined", {"call_id": call_id, "user_id": user.id})
        if outcome is not None:
            await self._notify(everyone, "call:ended", {"call_id": call_id, "reason": "declined", "by": user.id})
            await self._leave_media(call_id, user.id, ended=True)
            await self._record(call.room_id, call.started_by, outcome)
        return view

    async def relay(self, user: "AuthUser", call_id: str, to_user: str, event: str, data: dict[str, Any]) -> None:
        """Pass one signaling message to one joined participant's connection, and only that one."""
        async with self.services.db.transaction() as s:
            call, me = await self._load(s, call_id, user.id)
            target = await s.get(CallParticipant, (call_id, to_user)) if isinstance(to_user, str) else None
            if call.state == "ended":
                raise AppError("That call has ended.", code="call_ended", status=409)
            if me.state != "joined" or target is None or target.state != "joined" or not target.sid:
                raise NotFound("That person is not in the call.", code="peer_not_in_call")
            sid = target.sid
        await self.services.sio.emit(event, {"call_id": call_id, "from": user.id, **data}, to=sid)

    async def leave(self, user: "AuthUser", call_id: str, *, reason: str = "hangup") -> dict[str, Any]:
        """Hang up: out of the call and of its media session; the call may end for everyone."""
        async with self.services.db.transaction() as s:
            call, me = await self._load(s, call_id, user.id)
            was_live = call.state != "ended"
            view = await self._leave_locked(s, call, me, reason)
            ended_now = was_live and view["state"] == "ended"
            outcome = call_outcome(call, await _participants(s, call.id)) if ended_now else None
        await self._leave_media(call_id, user.id, ended=view["state"] == "ended")
        if outcome is not None:
            await self._record(call.room_id, call.started_by, outcome)
        return view

    async def _leave_media(self, call_id: str, user_id: str, *, ended: bool) -> None:
        """The media server follows the call: a leaver's session closes, an ended call's all do."""
        media = self.services.media
        if media is None:
            return
        if ended:
            await media.end_session(call_id)
        else:
            await media.leave(call_id, user_id)

    async def _leave_locked(self, s: AsyncSession, call: Call, me: CallParticipant, reason: str) -> dict[str, Any]:
        if call.state == "ended":
            return call_view(call, await _participants(s, call.id))
        me.state, me.sid = "left", None
        participants = await _participants(s, call.id)
        joined = [p for p in participants if p.state == "joined"]
        room = await s.get(Room, call.room_id)
        # A 1:1 call ends when either side hangs up, also after it fell back to the server relay
        # (which turns its mode to "relay"); a group call ends when the last one leaves.
        ended = room is None or room.kind != "group" or not joined
        if ended:
            self._end(call, reason)
        view = call_view(call, participants)
        everyone = [p.user_id for p in participants]
        if ended:
            await self._notify(everyone, "call:ended", {"call_id": call.id, "reason": reason, "by": me.user_id})
        else:
            await self._notify([p.user_id for p in joined], "call:left", {"call_id": call.id, "user_id": me.user_id, "reason": reason})
        return view

    async def _record(self, room_id: str, caller_id: str, outcome: dict[str, Any]) -> None:
        """Write the call's outcome into its conversation as the caller's message of kind "call",
        sealed like any message, so both sides and history show it. Its ``client_id`` is the
        call's, so a second writer (another process) stores nothing twice. The call has already
        ended for everyone; a record that cannot be written is logged, not raised."""
        try:
            async with self.services.db.read() as s:
                row = await s.get(User, caller_id)
            if row is None:
                return
            caller = auth_user(row)
            record = SendMessage(room_id, f"call:{outcome['call_id']}", json.dumps(outcome), (caller.locale or "en")[:2])
            await self.services.messages.send(caller, record, kind=CALL_KIND, server_written=True)
        except AppError as exc:
            log.warning("call.record_skipped", extra={"fields": {"room_id": room_id, "code": exc.code}})

    @staticmethod
    def _end(call: Call, reason: str) -> None:
        call.state, call.end_reason = "ended", reason
        call.active_room_id = None
        call.ended_at = datetime.now(timezone.utc)

    async def connection_closed(self, sid: str, user: "AuthUser") -> None:
        """A peer's tab went away: its part of every call ends, as if it had hung up."""
        async with self.services.db.transaction() as s:
            rows = list(await s.scalars(select(CallParticipant).where(CallParticipant.sid == sid, CallParticipant.state == "joined")))
            left: list[tuple[Call, dict[str, Any] | None]] = []
            for me in rows:
                call = await s.get(Call, me.call_id)
                if call is not None and call.state != "ended":
                    view = await self._leave_locked(s, call, me, "disconnected")
                    ended = view["state"] == "ended"
                    left.append((call, call_outcome(call, await _participants(s, call.id)) if ended else None))
        for call, outcome in left:
            await self._leave_media(call.id, user.id, ended=outcome is not None)
            if outcome is not None:
                await self._record(call.room_id, call.started_by, outcome)

    async def expire_unanswered(self) -> int:
        """End calls that rang past the timeout. The conditional update makes it fire once."""
        cutoff = datetime.now(timezone.utc) - timedelta(seconds=self.services.settings.ring_timeout_seconds)
        async with self.services.db.transaction() as s:
            due = list(await s.scalars(select(Call.id).where(Call.state == "ringing", Call.started_at < cutoff)))
        ended = 0
        for call_id in due:
            async with self.services.db.transaction() as s:
                result = await s.execute(
                    update(Call).where(Call.id == call_id, Call.state == "ringing")
                    .values(state="ended", end_reason="no_answer", active_room_id=None, ended_at=datetime.now(timezone.utc))
                )
                if result.rowcount != 1:
                    continue
                participants = await _participants(s, call_id)
                everyone = [p.user_id for p in participants]
                call = await s.get(Call, call_id)
                await s.refresh(call)
                outcome = call_outcome(call, participants)
            ended += 1
            await self._record(call.room_id, call.started_by, outcome)
            await self._notify(everyone, "call:ended", {"call_id": call_id, "reason": "no_answer", "by": None})
            if self.services.media is not None:
                # A group leader may already be in the relay while the others' phones ring.
                await self.services.media.end_session(call_id)
        return ended
