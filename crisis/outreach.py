"""Reaching out: the responder who holds an alert's claim talks with its writer, in the alert's room
(as a labelled crisis responder) or in a private crisis room with the writer alone.

The crisis conversation is an ordinary room membership, so the responder's main-namespace socket
uses the ordinary ``room:join`` / ``message:send`` / ``message:history`` and call events, and every
membership check the rest of the server makes applies to them unchanged. Access lasts exactly as
long as that membership: ``crisis:leave``, resolving the alert, or handing it over deletes it (in
the same transaction as the change that ends it) and takes the responder's live sockets out of the
room's events on every process. Each step is audited.

The first message the responder writes in the crisis conversation is the alert's ``contact_at``
(Crisis Text Line's measure: minutes from the risky message to a counsellor in the conversation).
It is seen by an after-fan-out hook that looks the room up in an in-memory map of conversations
still waiting for that first message, so every other message costs one dictionary lookup; the map
is refreshed from the database every few seconds, so a reach-out made through another process is
watched here too.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Literal

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from crisis.metrics import TIME_TO_CONTACT
from server.chat.room_access import room_view
from server.chat.room_text import RoomText, seal_room_text
from server.core.audit import record_audit
from server.core.errors import Conflict, Forbidden, NotFound
from server.core.i18n import N_, gettext_for, negotiate_locale
from server.core.roles import CRISIS_RESPONDER, MEMBER
from server.storage.models import CrisisAlert, Membership, Room, User, new_id
from server.transport.addressing import socket_room, user_room
from server.transport.cluster import leave_room_for_user

if TYPE_CHECKING:
    from server.accounts.users import AuthUser
    from server.chat.message_hooks import SentMessage
    from server.services import Services

log = logging.getLogger("crisis.outreach")

# The room_role of a responder who joined the writer's room; the room view shows it to everyone.
CRISIS_RESPONDER_ROLE = CRISIS_RESPONDER
CRISIS_ROOM_KIND = "crisis"
RESPONDER_TITLE = N_("Crisis responder, MentalVerse")
# How often each process re-reads which crisis conversations still wait for a first message.
CONTACT_REFRESH_SECONDS = 2.0


@dataclass(frozen=True)
class EndedAccess:
    """A responder's membership that a transaction deleted: what must follow once it commits."""

    alert_id: str
    room_id: str
    responder_id: str


class ContactWatch:
    """Crisis conversations whose responder has not written yet: room id → {responder id: alert id}."""

    def __init__(self) -> None:
        self._waiting: dict[str, dict[str, str]] = {}

    def expect(self, room_id: str, responder_id: str, alert_id: str) -> None:
        self._waiting.setdefault(room_id, {})[responder_id] = alert_id

    def forget(self, room_id: str, responder_id: str) -> None:
        waiting = self._waiting.get(room_id)
        if waiting is not None:
            waiting.pop(responder_id, None)
            if not waiting:
                del self._waiting[room_id]

    def replace(self, entries: list[tuple[str, str, str]]) -> None:
        """Take the database's view: (room id, responder id, alert id) of every waiting conversation."""
        waiting: dict[str, dict[str, str]] = {}
        for room_id, responder_id, alert_id in entries:
            waiting.setdefault(room_id, {})[responder_id] = alert_id
        self._waiting = waiting

    async def __call__(self, services: "Services", sent: "SentMessage") -> None:
        """The after-fan-out hook: a dictionary lookup, and one UPDATE for a responder's first message."""
        alert_id = self._waiting.get(sent.room.id, {}).get(sent.sender.id)
        if alert_id is None:
            return
        self.forget(sent.room.id, sent.sender.id)
        await record_first_contact(services, alert_id, sent.sender.id, sent.room.id)


async def record_first_contact(services: "Services", alert_id: str, responder_id: str, room_id: str) -> bool:
    """Stamp ``contact_at`` once, for the claimant writing in the alert's crisis conversation."""
    now = datetime.now(timezone.utc)
    async with services.db.transaction() as s:
        stamped = await s.execute(
            update(CrisisAlert)
            .where(CrisisAlert.id == alert_id, CrisisAlert.claimed_by == responder_id,
                   CrisisAlert.crisis_room_id == room_id, CrisisAlert.contact_at.is_(None))
            .values(contact_at=now)
            .execution_options(synchronize_session=False)
        )
        if stamped.rowcount != 1:
            return False
        row = await s.get(CrisisAlert, alert_id)
        assert row is not None
        waited = (now - row.created_at).total_seconds()
        await record_audit(s, responder_id, "crisis.contact", room_id=row.room_id, target_id=row.id,
                           detail={"crisis_room_id": room_id, "seconds": round(waited, 1)})
    TIME_TO_CONTACT.observe(waited)
    return True


async def waiting_conversations(services: "Services") -> list[tuple[str, str, str]]:
    """(room id, responder id, alert id) of claimed alerts whose conversation has no reply yet."""
    async with services.db.read() as s:
        rows = await s.execute(
            select(CrisisAlert.crisis_room_id, CrisisAlert.claimed_by, CrisisAlert.id).where(
                CrisisAlert.status == "claimed", CrisisAlert.contact_at.is_(None),
                CrisisAlert.crisis_room_id.is_not(None), CrisisAlert.claimed_by.is_not(None))
        )
        return [(room_id, responder_id, alert_id) for room_id, responder_id, alert_id in rows]


async def _claimed_alert(s: AsyncSession, user: "AuthUser", alert_id: str) -> CrisisAlert:
    """The alert, locked, if the caller holds its claim and it is still open."""
    row = await s.get(CrisisAlert, alert_id, with_for_update=True) if 1 <= len(alert_id) <= 64 else None
    if row is None:
        raise NotFound("No such alert.")
    if row.status == "resolved":
        raise Conflict("This alert is already resolved.", code="already_resolved")
    if row.claimed_by != user.id:
        raise Forbidden("Claim the alert before reaching out.", code="claim_first")
    return row


async def _private_room(services: "Services", s: AsyncSession, writer_id: str, responder_id: str) -> Room:
    room_id = new_id()
    room = Room(id=room_id, kind=CRISIS_ROOM_KIND, created_by=responder_id,
                wrapped_key=services.keyring.new_room_key(room_id), master_key_id=services.keyring.master_id,
                safety_monitoring=True, settings={})
    seal_room_text(services.keyring, room, RoomText(title=""))
    s.add(room)
    await s.flush()
    s.add(Membership(room_id=room_id, user_id=writer_id, role=MEMBER))
    await record_audit(s, responder_id, "room.create", room_id=room_id, detail={"kind": CRISIS_ROOM_KIND, "members": 2})
    return room


async def reach_out(services: "Services", user: "AuthUser", alert_id: str, mode: Literal["join", "private"]) -> dict[str, Any]:
    """Open (or reopen) the crisis conversation of a claimed alert; returns its room view.

    Idempotent: once an alert has a crisis conversation, every call returns that room (and gives
    the claimant back a membership they left), whatever ``mode`` says.
    """
    async with services.db.transaction() as s:
        row = await _claimed_alert(s, user, alert_id)
        if row.crisis_room_id is not None:
            room = await s.get(Room, row.crisis_room_id)
        elif mode == "join":
            room = await s.get(Room, row.room_id)
        else:
            room = await _private_room(services, s, row.author_id, user.id)
        if room is None or room.wrapped_key is None:
            raise NotFound("That conversation no longer exists.")
        row.crisis_room_id = room.id
        joined = await s.get(Membership, (room.id, user.id)) is None
        if joined:
            s.add(Membership(room_id=room.id, user_id=user.id, role=CRISIS_RESPONDER_ROLE))
        await record_audit(s, user.id, "crisis.reach_out", room_id=row.room_id, target_id=row.id,
                           detail={"crisis_room_id": room.id, "mode": "join" if room.id == row.room_id else "private",
                                   "joined": joined})
        await s.flush()
        view = await room_view(s, room)
        audience = await _members_with_locale(s, room.id, user.id)
        waiting = row.contact_at is None
    if waiting:
        services.crisis.contacts.expect(room.id, user.id, alert_id)
    log.info("crisis.reach_out", extra={"fields": {"alert_id": alert_id, "room_id": room.id, "joined": joined}})
    # A private room is new to the writer too; the writer's own room they know already.
    newcomers = [user.id] + ([uid for uid, _locale in audience] if view["kind"] == CRISIS_ROOM_KIND else [])
    for uid in newcomers:
        await services.sio.emit("room:added", {"room": view}, to=user_room(uid))
    if joined:
        for member_id, locale in audience:
            t = gettext_for(negotiate_locale(locale, None))
            notice = {"room_id": room.id, "responder": {"id": user.id, "display_name": user.display_name,
                                                        "title": t(RESPONDER_TITLE)}}
            await services.sio.emit("room:responder_joined", notice, to=user_room(member_id))
    return view


async def _members_with_locale(s: AsyncSession, room_id: str, except_id: str) -> list[tuple[str, str]]:
    rows = await s.execute(
        select(User.id, User.locale).join(Membership, Membership.user_id == User.id)
        .where(Membership.room_id == room_id, User.id != except_id)
    )
    return [(uid, locale) for uid, locale in rows]


async def end_responder_access(s: AsyncSession, row: CrisisAlert, responder_id: str) -> EndedAccess | None:
    """Delete the responder's membership of the alert's crisis conversation, inside the caller's
    transaction. A membership the responder had before reaching out (another role) is theirs to keep."""
    if row.crisis_room_id is None:
        return None
    membership = await s.get(Membership, (row.crisis_room_id, responder_id))
    if membership is None:
        return None
    private = row.crisis_room_id != row.room_id
    if not private and membership.role != CRISIS_RESPONDER_ROLE:
        return None
    await s.delete(membership)
    await record_audit(s, responder_id, "crisis.leave", room_id=row.room_id, target_id=row.id,
                       detail={"crisis_room_id": row.crisis_room_id})
    return EndedAccess(row.id, row.crisis_room_id, responder_id)


async def after_access_ended(services: "Services", ended: EndedAccess | None) -> None:
    """Once the deletion is committed: no more live events of that room, on any process."""
    if ended is None:
        return
    services.crisis.contacts.forget(ended.room_id, ended.responder_id)
    await leave_room_for_user(services, ended.responder_id, socket_room(ended.room_id))
    await services.sio.emit("room:removed", {"room_id": ended.room_id}, to=user_room(ended.responder_id))


async def leave(services: "Services", user: "AuthUser", alert_id: str) -> None:
    """The responder ends their part in the crisis conversation (the alert stays claimed)."""
    async with services.db.transaction() as s:
        row = await _claimed_alert(s, user, alert_id)
        ended = await end_responder_access(s, row, user.id)
    await after_access_ended(services, ended)

