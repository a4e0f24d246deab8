"""What runs around a message on its way from sender to readers, in one typed registry.

The send path, in order: ``language_of`` names the message's language; every ``pre_send`` hook
runs before the room's lock (crisis scanning, with any translation it needs); under the lock,
just before the write, every ``pre_send_check`` may refuse it (a group's slow mode); once it is durable, what
the pre-send hooks asked for and every ``before_fanout`` hook run (storing a crisis alert);
``message:new`` goes out; the ``after_fanout`` hooks start, in order, in one task (a responder's
first contact, translations); the sender gets the ack. ``history`` hooks add to pages of history asked to be translated (translations), ``pages`` hooks
to every page (reactions).
Everything is registered in one place, ``server/app.py``, so reading it lists what runs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Awaitable, Callable

from server.storage.models import Room

if TYPE_CHECKING:
    from server.accounts.users import AuthUser
    from server.services import Services

# A message's ``safety`` marker, shown to every reader: nobody could scan it (its language has no
# lexicon and no translation), or its scan or alert failed and it awaits review.
SAFETY_UNSCANNED = "unscanned"
SAFETY_REVIEW = "review"


@dataclass
class SentMessage:
    """What a before-fan-out hook sees: the stored message, its plaintext and who sent it."""

    room: Room
    view: dict[str, Any]
    body: str
    sender: "AuthUser"


@dataclass
class OutgoingMessage:
    """What a pre-send hook sees: a valid message, not yet stored, no lock held.

    ``given_language`` is what the client said (maybe ""), ``language`` what will be stored. A
    hook sets ``safety`` to mark the message for every reader ("unscanned", "review"); the
    marker is stored with the message and shown in its view.
    """

    room_id: str
    sender: "AuthUser"
    body: str
    language: str
    given_language: str
    safety: str | None = None


FanoutHook = Callable[["Services", SentMessage], Awaitable[None]]
# Runs before the room's lock, so it may be slow (a scan, a translation). It returns what must run
# once the message is stored and before it is fanned out (e.g. store the alert it found), or None.
PreSendHook = Callable[["Services", OutgoingMessage], Awaitable[FanoutHook | None]]
# Runs under the room's lock just before the message is written: raise an AppError to refuse it
# (e.g. a group's slow mode). A retried client_id refused here is answered with what was stored,
# and a refusal to someone not in the room becomes "not a member". Most rooms need none of a
# check's reads, so a check reads what it needs itself (``services.db.read()``) only when it applies.
PreSendCheck = Callable[["Services", Room, "AuthUser"], Awaitable[None]]
# Names a message's language from (services, body, sender, the language the client gave).
LanguageOf = Callable[["Services", str, "AuthUser", str], str]
# Adds to a page of history views for the caller (e.g. a translation into ``translate_to``).
HistoryHook = Callable[["Services", list[dict[str, Any]], str], Awaitable[None]]
# Adds to every page of history, asked for a translation or not (e.g. each message's reactions).
PageHook = Callable[["Services", list[dict[str, Any]]], Awaitable[None]]


@dataclass
class MessageHooks:
    language_of: LanguageOf | None = None
    pre_send: list[PreSendHook] = field(default_factory=list)
    pre_send_checks: list[PreSendCheck] = field(default_factory=list)
    before_fanout: list[FanoutHook] = field(default_factory=list)
    after_fanout: list[FanoutHook] = field(default_factory=list)
    history: list[HistoryHook] = field(default_factory=list)
    pages: list[PageHook] = field(default_factory=list)
