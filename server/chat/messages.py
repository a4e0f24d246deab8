"""Messages: durable, encrypted, exactly-once per client_id, gap-free seq, delivered in order.

The send path, in order: name the message's language; run the pre-send hooks (crisis scanning,
with any translation it needs) before taking any lock, so a slow scan in one message never holds
another's; under the room's lock, run the pre-send checks and the sender's budget, then allocate
the next seq (where membership and mute are checked) and insert the ciphertext in one transaction
(on PostgreSQL one statement) that is durable when it returns; run what the pre-send hooks asked to run
once the message is stored (e.g. store a crisis alert) and the before-fan-out hooks; emit
``message:new`` to the room; start the after-fan-out hooks (translations) as tracked tasks; only
then ack. Emitting under the same lock keeps one process's fan-out in seq order; across
processes, clients order by seq and fill any gap from ``message:history``.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

import msgspec
from sqlalchemy import Boolean, bindparam, exists, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from server.core.audit import record_audit
from server.core.errors import AppError, Forbidden, InvalidPayload, NotFound
from server.core.roles import ROOM_MODERATORS
from server.storage.models import Membership, Message, Room, new_id
from server.transport.addressing import socket_room
from server.transport.events import EventContext, EventRouter

from .message_hooks import SAFETY_REVIEW, FanoutHook, MessageHooks, OutgoingMessage, SentMessage
from .replies import checked_reply_to
from .room_access import require_member
from .sealed import SealedEnvelope, check_envelope

if TYPE_CHECKING:
    from server.accounts.users import AuthUser
    from server.services import Services

log = logging.getLogger("server.messages")
router = EventRouter()

HISTORY_MAX_PAGE = 500

# The send path's statements, built once: building one per message (and its cache key) showed in
# the profile (bench/README.md, issue 23). Core statements on the tables, not ORM: same SQL, a
# fraction of the Python work. What a send needs to know of its room (kind, key, settings) comes
# from the per-process room cache; the seq bump is also the membership and mute check, so the
# database stays the authority on who may write (no cache can let a removed member in). On
# PostgreSQL the bump and the insert are one statement, its own transaction: one round trip,
# durable when it returns. On SQLite they are two statements in one transaction. A retried
# client_id is the insert's unique violation, which undoes the bump (the seq stays gap-free).
_ROOMS = Room.__table__
_MEMBERSHIPS = Membership.__table__
_MESSAGES = Message.__table__
_MAY_WRITE = exists().where(
    _MEMBERSHIPS.c.room_id == bindparam("room_id"),
    _MEMBERSHIPS.c.user_id == bindparam("sender_id"),
    or_(_MEMBERSHIPS.c.muted_until.is_(None), _MEMBERSHIPS.c.muted_until <= bindparam("now"),
        bindparam("server_written", type_=Boolean)),
)
_BUMP = update(_ROOMS).where(_ROOMS.c.id == bindparam("room_id"), _MAY_WRITE).values(last_seq=_ROOMS.c.last_seq + 1)
_NEXT_SEQ = _BUMP.returning(_ROOMS.c.last_seq)
_MESSAGE_COLUMNS = ("id", "sender_id", "client_id", "nonce", "ciphertext", "language", "kind", "created_at", "safety", "reply_to")
_BUMPED = _BUMP.returning(_ROOMS.c.id, _ROOMS.c.last_seq).cte("bumped")
_BUMP_AND_INSERT = insert(_MESSAGES).from_select(
    ["room_id", "seq", *_MESSAGE_COLUMNS],
    # Named m_*: an execution parameter named like a rooms column would join the UPDATE's SET.
    select(_BUMPED.c.id, _BUMPED.c.last_seq, *(bindparam(f"m_{c}", type_=_MESSAGES.c[c].type) for c in _MESSAGE_COLUMNS)),
).returning(_MESSAGES.c.seq)
_ROOM_ROW = select(_ROOMS).where(_ROOMS.c.id == bindparam("room_id"))
_MEMBER_IDS = select(_MEMBERSHIPS.c.user_id).where(_MEMBERSHIPS.c.room_id == bindparam("room_id"))
_MEMBERSHIP_OF = select(Membership.user_id).where(Membership.room_id == bindparam("room_id"), Membership.user_id == bindparam("sender_id"))
_RETRIED = select(Message.id).where(
    Message.room_id == bindparam("room_id"), Message.sender_id == bindparam("sender_id"), Message.client_id == bindparam("client_id"),
)
_INSERT_MESSAGE = insert(Message.__table__)


class SendMessage(msgspec.Struct, forbid_unknown_fields=True):
    room_id: str
    client_id: str
    body: str = ""
    language: str = ""
    # A private room's message: sealed on the sender's device, never a body (server/chat/sealed.py).
    sealed: SealedEnvelope | None = None
    # The id of an earlier message of this room that this one answers.
    reply_to: str = ""


class EditMessage(msgspec.Struct, forbid_unknown_fields=True):
    room_id: str
    message_id: str
    body: str


class DeleteMessage(msgspec.Struct, forbid_unknown_fields=True):
    room_id: str
    message_id: str


class History(msgspec.Struct, forbid_unknown_fields=True):
    room_id: str
    after_seq: int | None = None
    before_seq: int | None = None
    limit: int = 50
    # A language code: each message then carries a ``translation`` into it.
    translate_to: str = ""


def message_view(room_id: str, row: Message, body: str | None) -> dict[str, Any]:
    return {
        "id": row.id,
        "seq": row.seq,
        "room_id": room_id,
        "sender_id": row.sender_id,
        "client_id": row.client_id,
        "body": body,
        "language": row.language,
        "kind": row.kind,
        "created_at": row.created_at.isoformat(),
        "edited_at": row.edited_at.isoformat() if row.edited_at else None,
        "deleted": row.deleted_at is not None,
        "safety": row.safety,
        "sealed": row.sealed,
        "reply_to": row.reply_to,
    }


class MessageService:
    def __init__(self, services: "Services") -> None:
        self.services = services
        self._room_locks: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)
        self.hooks = MessageHooks()
        self._after_fanout_tasks: set[asyncio.Task[None]] = set()

    def _validate_body(self, body: str) -> str:
        if not body.strip():
            raise InvalidPayload("A message cannot be empty.", code="empty_body")
        if len(body) > self.services.settings.max_body_chars:
            raise InvalidPayload(
                f"The message is too long (at most {self.services.settings.max_body_chars} characters).", code="body_too_long"
            )
        return body

    def decrypt(self, room: Room, row: Message) -> str | None:
        if row.ciphertext is None or row.nonce is None:
            return None
        return self.services.keyring.open(room.id, room.wrapped_key, row.id, row.nonce, row.ciphertext)

    async def send(self, sender: "AuthUser", p: SendMessage, *, kind: str = "text",
                   server_written: bool = False) -> dict[str, Any]:
        """``server_written``: a record the server writes in the sender's name (a call's outcome);
        the sender's mute, rate limit and the room's send checks do not hold it back, and the
        after-fan-out hooks (translation, a responder's first contact) do not run for it. It may
        go to a private room: it holds no one's words, only what the server itself knows."""
        if not 1 <= len(p.client_id) <= 64:
            raise InvalidPayload("client_id has 1 to 64 characters.")
        if p.sealed is not None:
            return await self._send_sealed(sender, p)
        if not server_written:
            # Before any hook reads the body: a private room's plaintext must go no further.
            await self._refuse_plaintext_in_private_room(sender, p.room_id)
        body = self._validate_body(p.body)
        services = self.services
        given_language = p.language
        hooks = self.hooks
        if hooks.language_of is not None:
            p.language = hooks.language_of(services, body, sender, p.language)
        outgoing = OutgoingMessage(p.room_id, sender, body, p.language, given_language)
        once_stored: list[FanoutHook] = []
        if kind == "text":
            for pre_send in hooks.pre_send:
                try:
                    follow_up = await pre_send(services, outgoing)
                except Exception:
                    # The message is not lost, but nobody can vouch for it: it says so to every reader.
                    log.exception("message.pre_send_failed", extra={"fields": {"room_id": p.room_id}})
                    outgoing.safety = SAFETY_REVIEW
                    continue
                if follow_up is not None:
                    once_stored.append(follow_up)
        async with self._room_locks[p.room_id]:
            stored = await self._store(sender, p, kind, outgoing.safety, body=body, server_written=server_written)
            if stored is None:
                return await self._existing(sender, p)
            room, view = stored
            sent = SentMessage(room, view, body, sender)
            for hook in [*once_stored, *hooks.before_fanout]:
                try:
                    await hook(services, sent)
                except Exception:
                    # A failing hook must not lose or block the message; it is logged loudly.
                    log.exception("message.hook_failed", extra={"fields": {"room_id": room.id}})
            await services.sio.emit("message:new", view, to=socket_room(room.id))
            # A server-written record is nobody's act of writing: no translation, no responder's first contact.
            if hooks.after_fanout and not server_written:
                task = asyncio.create_task(self._run_after_fanout(hooks.after_fanout, sent))
                self._after_fanout_tasks.add(task)
                task.add_done_callback(self._after_fanout_tasks.discard)
        return view

    async def _send_sealed(self, sender: "AuthUser", p: SendMessage) -> dict[str, Any]:
        """A private room's message: stored and fanned out like any other, with no hook at all —
        there is no plaintext for crisis scanning, language naming or translation to read."""
        assert p.sealed is not None
        if p.body:
            raise InvalidPayload("A sealed message carries no body.", code="sealed_invalid")
        sealed = check_envelope(p.sealed, self.services.settings.max_body_chars)
        p.language = ""
        async with self._room_locks[p.room_id]:
            stored = await self._store(sender, p, "text", None, sealed=sealed)
            if stored is None:
                return await self._existing(sender, p)
            room, view = stored
            await self.services.sio.emit("message:new", view, to=socket_room(room.id))
        return view

    async def _refuse_plaintext_in_private_room(self, sender: "AuthUser", room_id: str) -> None:
        """``sealed_required`` for a member sending plaintext to a private room; ``forbidden`` for
        anyone not in the room, whatever they sent (they learn nothing about it)."""
        room = await self._send_room(room_id, sender.id)
        if room is None:
            raise Forbidden("That room does not exist or you are not a member.")
        if room["room"].private:
            raise InvalidPayload("This room is private: messages must be sealed on your device.", code="sealed_required")

    async def _run_after_fanout(self, hooks: list[FanoutHook], sent: SentMessage) -> None:
        """One task per message runs its after-fan-out hooks in their order (a task per hook was
        a task too many on every send, while most hooks return at once); one failing does not
        stop the next."""
        for hook in hooks:
            try:
                await hook(self.services, sent)
            except Exception:
                log.exception("message.after_hook_failed", extra={"fields": {"room_id": sent.room.id}})

    async def drain_after_fanout(self, timeout: float = 10.0) -> None:
        """On shutdown: let after-fan-out work finish (bounded), then cancel what is left."""
        pending = set(self._after_fanout_tasks)
        if not pending:
            return
        _done, late = await asyncio.wait(pending, timeout=timeout)
        for task in late:
            task.cancel()

    async def _store(self, sender: "AuthUser", p: SendMessage, kind: str, safety: str | None, *,
                     body: str | None = None, sealed: dict[str, Any] | None = None,
                     server_written: bool = False) -> tuple[Room, dict[str, Any]] | None:
        """Store durably; None when this client_id was already stored (a retry).

        Exactly one of ``body`` (sealed here with the room's at-rest key) and ``sealed`` (a
        private room's envelope, stored as the device sealed it) is given.
        """
        services = self.services
        now = datetime.now(timezone.utc)
        keys = {"room_id": p.room_id, "sender_id": sender.id, "client_id": p.client_id}
        send_room = await self._send_room(p.room_id, sender.id)
        if send_room is None:
            raise Forbidden("That room does not exist or you are not a member.")
        room = send_room["room"]
        try:
            if room.private and sealed is None and not server_written:
                raise InvalidPayload("This room is private: messages must be sealed on your device.", code="sealed_required")
            if sealed is not None and not room.private:
                raise InvalidPayload("Only a private room's messages are sealed.", code="not_private")
            reply_to = None
            if p.reply_to:
                async with services.db.read() as s:
                    reply_to = await checked_reply_to(s, room.id, p.reply_to)
            if not server_written:
                for check in self.hooks.pre_send_checks:
                    await check(services, room, sender)
                await services.limiter.check(
                    services.settings.message_rate, "messages", sender.id,
                    message="You are sending messages too fast. Please wait a moment.", shared=False,
                )
        except AppError:
            # These ran before the write, which is where membership is checked: a retried
            # client_id is answered with what was stored, whatever the checks say now, and
            # someone not in the room learns nothing of it from a check's answer.
            if await self._stored_before(keys):
                return None
            await self._require_member(keys)
            raise
        message_id = new_id()
        nonce, ciphertext = (None, None) if body is None else services.keyring.seal(room.id, room.wrapped_key, message_id, body)
        message = {
            "id": message_id, "room_id": room.id, "sender_id": sender.id, "client_id": p.client_id, "nonce": nonce,
            "ciphertext": ciphertext, "language": p.language[:8], "kind": kind, "created_at": now, "safety": safety,
            "sealed": sealed, "reply_to": reply_to,
        }
        try:
            seq = await self._write(message, {"room_id": room.id, "sender_id": sender.id, "now": now, "server_written": server_written})
        except IntegrityError:
            # This client_id was stored before (a retry, here or on another process); nothing was written.
            return None
        if seq is None:
            # The bump matched no row: a stored retry, a mute, or no longer a member.
            if await self._stored_before(keys):
                return None
            await self._require_member(keys)
            raise Forbidden("You are muted in this room for now.", code="muted")
        row = Message(
            id=message_id, room_id=room.id, seq=seq, sender_id=sender.id, client_id=p.client_id,
            nonce=nonce, ciphertext=ciphertext, language=message["language"], kind=kind,
            created_at=now, safety=safety, sealed=sealed, reply_to=reply_to,
        )
        return room, message_view(room.id, row, body)

    async def _write(self, message: dict[str, Any], may_write: dict[str, Any]) -> int | None:
        """Bump the room's seq if the sender may write (``may_write``: room, sender, now, whether
        the server writes it) and insert ``message`` with it, durably; the seq, or None when the
        sender may not write. Raises IntegrityError for a client_id stored before."""
        db = self.services.db
        if not db.is_sqlite and message["sealed"] is None:
            params = {**may_write, **{f"m_{c}": message[c] for c in _MESSAGE_COLUMNS}}
            rows = await db.run_alone(_BUMP_AND_INSERT, params)
            return rows[0]["seq"] if rows else None
        async with db.transaction() as s:
            seq = await s.scalar(_NEXT_SEQ, may_write)
            if seq is None:
                return None
            await s.execute(_INSERT_MESSAGE, {**message, "seq": seq})
            return seq

    async def _send_room(self, room_id: str, sender_id: str) -> dict[str, Any] | None:
        """The room as the send path reads it (``room``: a detached Room, whose seq is not used and
        which nobody changes; ``members``: who is in it), or None if it does not exist or the
        sender is not a member.

        Cached per process and dropped on any committed change of the room or its members
        (server/chat/room_cache.py), so that the gate before the pre-send hooks reads nothing.
        It only gates: the storing statement decides again, from the database, who may write.
        A sender the cached room does not list is looked up afresh before being refused (another
        process may have added them a moment ago and its invalidation may still be on its way).
        """
        if len(room_id) > 64:
            return None

        async def load() -> dict[str, Any] | None:
            async with self.services.db.read() as s:
                found = (await s.execute(_ROOM_ROW, {"room_id": room_id})).first()
                if found is None:
                    return None
                members = frozenset(await s.scalars(_MEMBER_IDS, {"room_id": room_id}))
            return {"room": Room(**found._mapping), "members": members}

        cache = self.services.room_cache
        room = await cache.get("send_room", room_id, load)
        if room is None or sender_id not in room["members"]:
            cache.invalidate([room_id])
            room = await cache.get("send_room", room_id, load)
        return room if room is not None and sender_id in room["members"] else None

    async def _stored_before(self, keys: dict[str, str]) -> bool:
        async with self.services.db.read() as s:
            return await s.scalar(_RETRIED, keys) is not None

    async def _require_member(self, keys: dict[str, str]) -> None:
        async with self.services.db.read() as s:
            if await s.scalar(_MEMBERSHIP_OF, keys) is None:
                raise Forbidden("That room does not exist or you are not a member.")

    async def _existing(self, sender: "AuthUser", p: SendMessage) -> dict[str, Any]:
        async with self.services.db.read() as s:
            room, _m = await require_member(s, p.room_id, sender.id)
            row = await s.scalar(
                select(Message).where(Message.room_id == room.id, Message.sender_id == sender.id, Message.client_id == p.client_id)
            )
            if row is None:
                raise NotFound("The message could not be found.")
            return message_view(room.id, row, self.decrypt(room, row))

    async def edit(self, user: "AuthUser", p: EditMessage) -> dict[str, Any]:
        body = self._validate_body(p.body)
        services = self.services
        async with self._room_locks[p.room_id]:
            async with services.db.transaction() as s:
                room, _m = await require_member(s, p.room_id, user.id)
                row = await _message_in_room(s, room.id, p.message_id)
                if row.sender_id != user.id:
                    raise Forbidden("Only the author can edit a message.")
                if room.private:
                    # The server cannot check what a new envelope says; a private room's words stay as sent.
                    raise InvalidPayload("Messages in a private room cannot be edited.", code="private_room")
                if row.kind != "text":
                    # A shared file's message describes the stored file; changing it would lie about it.
                    raise InvalidPayload("Only a text message can be edited.", code="not_editable")
                if row.deleted_at is not None:
                    raise InvalidPayload("A deleted message cannot be edited.", code="message_deleted")
                if datetime.now(timezone.utc) - row.created_at > timedelta(seconds=services.settings.edit_window_seconds):
                    raise Forbidden("This message is too old to edit.", code="edit_window_closed")
                row.nonce, row.ciphertext = services.keyring.seal(room.id, room.wrapped_key, row.id, body)
                row.edited_at = datetime.now(timezone.utc)
                view = message_view(room.id, row, body)
            await services.sio.emit("message:edited", view, to=socket_room(room.id))
        return view

    async def delete(self, user: "AuthUser", p: DeleteMessage, *, moderator: bool = False) -> dict[str, Any]:
        """The body is removed from storage; a tombstone keeps the seq so history stays gap-free."""
        services = self.services
        async with self._room_locks[p.room_id]:
            async with services.db.transaction() as s:
                room, membership = await require_member(s, p.room_id, user.id)
                row = await _message_in_room(s, room.id, p.message_id)
                if row.sender_id != user.id and not (moderator or membership.role in ROOM_MODERATORS):
                    raise Forbidden("Only the author can delete a message.")
                row.nonce = None
                row.ciphertext = None
                row.sealed = None
                row.deleted_at = datetime.now(timezone.utc)
                if row.sender_id != user.id:
                    await record_audit(s, user.id, "message.delete", room_id=room.id, target_id=row.id)
                view = message_view(room.id, row, None)
            await services.sio.emit("message:deleted", {"room_id": room.id, "message_id": row.id, "seq": row.seq}, to=socket_room(room.id))
        return view

    async def history_page(
        self, room_id: str, *, after_seq: int | None, before_seq: int | None, limit: int
    ) -> dict[str, Any]:
        """Messages after (ascending) or before (the newest first, returned ascending) a seq."""
        if not 1 <= limit <= HISTORY_MAX_PAGE:
            raise InvalidPayload(f"limit is between 1 and {HISTORY_MAX_PAGE}.")
        async with self.services.db.read() as s:
            room = await s.get(Room, room_id)
            query = select(Message).where(Message.room_id == room_id)
            if after_seq is not None:
                query = query.where(Message.seq > after_seq).order_by(Message.seq).limit(limit + 1)
            else:
                if before_seq is not None:
                    query = query.where(Message.seq < before_seq)
                query = query.order_by(Message.seq.desc()).limit(limit + 1)
            rows = list(await s.scalars(query))
        has_more = len(rows) > limit
        rows = rows[:limit]
        if after_seq is None:
            rows.reverse()
        views = [message_view(room_id, r, self.decrypt(room, r)) for r in rows]
        for page_hook in self.hooks.pages:
            await page_hook(self.services, views)
        return {"messages": views, "has_more": has_more}


async def _message_in_room(s: AsyncSession, room_id: str, message_id: str) -> Message:
    row = await s.get(Message, message_id) if len(message_id) <= 64 else None
    if row is None or row.room_id != room_id:
        raise NotFound("No such message in this room.")
    return row


@router.on("message:send", SendMessage, ordered=True)
async def on_send(ctx: EventContext, p: SendMessage) -> dict[str, Any]:
    return {"message": await ctx.services.messages.send(ctx.user, p)}


@router.on("message:edit", EditMessage, ordered=True)
async def on_edit(ctx: EventContext, p: EditMessage) -> dict[str, Any]:
    return {"message": await ctx.services.messages.edit(ctx.user, p)}


@router.on("message:delete", DeleteMessage, ordered=True)
async def on_delete(ctx: EventContext, p: DeleteMessage) -> dict[str, Any]:
    return {"message": await ctx.services.messages.delete(ctx.user, p)}


@router.on("message:history", History)
async def on_history(ctx: EventContext, p: History) -> dict[str, Any]:
    if p.after_seq is not None and p.before_seq is not None:
        raise InvalidPayload("Give after_seq or before_seq, not both.")
    async with ctx.services.db.read() as s:
        await require_member(s, p.room_id, ctx.user.id)
    page = await ctx.services.messages.history_page(p.room_id, after_seq=p.after_seq, before_seq=p.before_seq, limit=p.limit)
    if p.translate_to:
        for hook in ctx.services.messages.hooks.history:
            await hook(ctx.services, page["messages"], p.translate_to)
    return page
