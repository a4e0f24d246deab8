"""Requests and mentorships: a mentee asks, the mentor answers, either side may end it.

    requested ─accept→ active ─end→ ended
        │ decline → declined      (the mentee gets a kind word and the next suggestions)
        │ expire  → expired       (after match_request_ttl_seconds; the same for the mentee)
        └ withdraw → withdrawn

Capacity holds in the database: a requested or active mentorship holds one of the mentor's seats,
and every request takes a row lock on the mentor's profile (``SELECT … FOR UPDATE``; SQLite lets
one writer in at a time) before it counts the seats taken and adds its own, so however many
requests arrive on however many processes, no more than ``capacity`` are ever open. A pending
request holds its seat too: a mentor is never asked by more people than they can take.

``open_pair`` (unique) keeps one open mentorship per pair and ``pending_mentee`` (unique) one
waiting request per mentee, also across processes. Every transition is a conditional change of
a locked or ``WHERE status = …`` row, so an answer racing an expiry or a withdrawal happens once.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from server.accounts.blocks import refuse_if_blocked
from server.accounts.users import AuthUser, public_identity
from server.core.audit import record_audit
from server.core.errors import Conflict, Forbidden, InvalidPayload, NotFound
from server.core.i18n import N_
from server.core.roles import MENTOR_ROLES
from server.matching.index import SEAT_HOLDING
from server.matching.intake import load_intake
from server.matching.profiles import seats_taken
from server.rewards.outbox import record_reward
from server.scheduling.booking import direct_room_between
from server.storage.database import session_keyring
from server.storage.models import MentorProfile, Mentorship, User, new_id

if TYPE_CHECKING:
    from server.services import Services

REQUESTED, ACTIVE, DECLINED, EXPIRED, WITHDRAWN, ENDED = "requested", "active", "declined", "expired", "withdrawn", "ended"
OPEN = SEAT_HOLDING
# Why a mentorship closed (kept for staff and the ranking, never shown to the other side).
END_REASONS = ("mentee_ended", "mentor_ended", "rematch", "blocked")
NOTE_MAX_CHARS = 500
NOTE_RECORD = "note"
# Weight of the newest answer in a mentor's moving average of response hours.
RESPONSE_AVERAGE_WEIGHT = 0.3
EXPIRY_BATCH = 100
LIST_LIMIT = 100

REQUEST_MESSAGES: tuple[str, ...] = (
    N_("No mentor with that id."),
    N_("This mentor is not taking new mentees right now."),
    N_("This mentor has no free place right now."),
    N_("You already have a request waiting for an answer; withdraw it or wait for the answer first."),
    N_("You already have an open mentorship or request with this mentor."),
    N_("That request does not exist or is not yours."),
    N_("This request was already answered or has closed."),
    N_("This mentorship has already ended."),
    N_("A note has at most {count} characters."),
    N_("You cannot ask yourself to be your mentor."),
)


def mentorship_key(mentorship_id: str) -> str:
    return f"mentorship:{mentorship_id}"


def _pair(mentor_id: str, mentee_id: str) -> str:
    return f"{mentor_id}:{mentee_id}"


def open_note(session: AsyncSession, row: Mentorship) -> str:
    if row.note_ciphertext is None or row.note_nonce is None or row.wrapped_key is None:
        return ""
    return session_keyring(session).open(mentorship_key(row.id), row.wrapped_key, NOTE_RECORD, row.note_nonce, row.note_ciphertext)


async def people(session: AsyncSession, user_ids: list[str]) -> dict[str, dict[str, Any]]:
    """Public identities (pseudonyms respected) and reading preferences, by user id."""
    rows = await session.execute(
        select(User.id, User.username, User.display_name, User.role, User.pseudonym, User.locale, User.timezone)
        .where(User.id.in_(user_ids)))
    return {uid: {**public_identity(uid, un, dn, role, pn), "_locale": loc or "en", "_timezone": tz or "UTC"}
            for uid, un, dn, role, pn, loc, tz in rows}


def public(person: dict[str, Any] | None) -> dict[str, Any] | None:
    return {k: v for k, v in person.items() if not k.startswith("_")} if person else None


async def mentorship_view(session: AsyncSession, row: Mentorship, viewer_id: str,
                          who: dict[str, dict[str, Any]] | None = None) -> dict[str, Any]:
    """A mentorship as one of its two people sees it. The mentor also sees what the mentee is
    looking for (support areas, languages, kind of relationship; never their goals)."""
    who = who or await people(session, [row.mentor_id, row.mentee_id])
    view: dict[str, Any] = {
        "id": row.id,
        "status": row.status,
        "role": "mentor" if viewer_id == row.mentor_id else "mentee",
        "mentor": public(who.get(row.mentor_id)),
        "mentee": public(who.get(row.mentee_id)),
        "note": open_note(session, row),
        "room_id": row.room_id,
        "requested_at": row.requested_at.isoformat(),
        "expires_at": row.expires_at.isoformat() if row.status == REQUESTED else None,
        "responded_at": row.responded_at.isoformat() if row.responded_at else None,
        "ended_at": row.ended_at.isoformat() if row.ended_at else None,
    }
    if viewer_id == row.mentor_id and row.status in OPEN:
        intake = await load_intake(session, row.mentee_id)
        view["looking_for"] = {
            "support": list(intake.support), "languages": list(intake.languages),
            "relationship": intake.relationship, "format": intake.format,
        } if intake else None
    return view


async def _locked_profile(session: AsyncSession, mentor_id: str) -> MentorProfile:
    """The mentor's profile row, locked until the transaction ends: every request and answer for
    this mentor queues here, which is what makes the seat count exact across processes."""
    profile = await session.scalar(
        select(MentorProfile).where(MentorProfile.user_id == mentor_id).with_for_update().execution_options(populate_existing=True))
    user = await session.get(User, mentor_id) if profile is not None else None
    if profile is None or user is None or user.banned or user.role not in MENTOR_ROLES:
        raise NotFound("No mentor with that id.")
    return profile


async def request_mentor(services: "Services", mentee: AuthUser, mentor_id: str, note: str) -> Mentorship:
    """Ask a mentor; holds one of their seats until the answer, the expiry or a withdrawal."""
    if len(note) > NOTE_MAX_CHARS:
        raise InvalidPayload("A note has at most {count} characters.", params={"count": NOTE_MAX_CHARS})
    if mentor_id == mentee.id:
        raise InvalidPayload("You cannot ask yourself to be your mentor.")
    if not isinstance(mentor_id, str) or len(mentor_id) > 64:
        raise NotFound("No mentor with that id.")
    now = datetime.now(timezone.utc)
    try:
        async with services.db.transaction() as s:
            profile = await _locked_profile(s, mentor_id)
            await refuse_if_blocked(s, mentee.id, mentor_id)
            if not profile.accepting:
                raise Conflict("This mentor is not taking new mentees right now.", code="mentor_paused")
            if await s.scalar(select(Mentorship.id).where(Mentorship.open_pair == _pair(mentor_id, mentee.id))):
                raise Conflict("You already have an open mentorship or request with this mentor.", code="already_open")
            if await s.scalar(select(Mentorship.id).where(Mentorship.pending_mentee == mentee.id)):
                raise Conflict("You already have a request waiting for an answer; withdraw it or wait for the answer first.",
                               code="request_pending")
            if await seats_taken(s, mentor_id) >= profile.capacity:
                raise Conflict("This mentor has no free place right now.", code="mentor_full")
            row = Mentorship(id=new_id(), mentor_id=mentor_id, mentee_id=mentee.id, status=REQUESTED,
                             open_pair=_pair(mentor_id, mentee.id), pending_mentee=mentee.id, requested_at=now,
                             expires_at=now + timedelta(seconds=services.settings.match_request_ttl_seconds), end_reason="")
            if note.strip():
                keyring = services.keyring
                row.wrapped_key = keyring.new_room_key(mentorship_key(row.id))
                row.note_nonce, row.note_ciphertext = keyring.seal(mentorship_key(row.id), row.wrapped_key, NOTE_RECORD, note.strip())
            s.add(row)
            await s.flush()
            await record_audit(s, mentee.id, "mentorship.request", target_id=row.id, detail={"mentor_id": mentor_id})
    except IntegrityError:
        # Another process stored this mentee's request (or this pair's) a moment earlier.
        raise Conflict("You already have a request waiting for an answer; withdraw it or wait for the answer first.",
                       code="request_pending") from None
    return row


async def _own(session: AsyncSession, mentorship_id: str, user_id: str) -> Mentorship:
    """The mentorship, locked, if the user is one of its two people; one answer otherwise."""
    row = await session.scalar(
        select(Mentorship).where(Mentorship.id == mentorship_id).with_for_update().execution_options(populate_existing=True)
    ) if isinstance(mentorship_id, str) and len(mentorship_id) <= 64 else None
    if row is None or user_id not in (row.mentor_id, row.mentee_id):
        raise Forbidden("That request does not exist or is not yours.")
    return row


def _learn_response_time(profile: MentorProfile, hours: float) -> None:
    profile.response_hours = hours if profile.response_hours is None else \
        (1 - RESPONSE_AVERAGE_WEIGHT) * profile.response_hours + RESPONSE_AVERAGE_WEIGHT * hours
    profile.responses += 1


async def answer_request(services: "Services", mentor: AuthUser, mentorship_id: str, accept: bool) -> Mentorship:
    """The mentor accepts (a conversation opens for both) or declines; a closed request is refused."""
    now = datetime.now(timezone.utc)
    async with services.db.transaction() as s:
        # The profile first, then the request: the same order as a new request takes its locks.
        profile = await _locked_profile(s, mentor.id)
        row = await _own(s, mentorship_id, mentor.id)
        if row.mentor_id != mentor.id:
            raise Forbidden("That request does not exist or is not yours.")
        if row.status != REQUESTED or row.expires_at <= now:
            raise Conflict("This request was already answered or has closed.", code="request_closed")
        if accept:
            await refuse_if_blocked(s, mentor.id, row.mentee_id)
        _learn_response_time(profile, (now - row.requested_at).total_seconds() / 3600)
        row.responded_at = now
        row.pending_mentee = None
        if accept:
            row.status = ACTIVE
            await record_reward(s, "mentorship_started", mentor.id, f"mentorship_started:{row.id}",
                                {"mentorship_id": row.id, "mentee_id": row.mentee_id})
        else:
            row.status, row.open_pair, row.end_reason, row.ended_at = DECLINED, None, "declined", now
        await record_audit(s, mentor.id, "mentorship.accept" if accept else "mentorship.decline", target_id=row.id,
                           detail={"mentee_id": row.mentee_id})
    if accept:
        await ensure_room(services, row)
    return row


async def ensure_room(services: "Services", row: Mentorship) -> str:
    """The pair's conversation (their direct room, opened now if they have none), remembered on
    the mentorship; both get ``room:added`` when it is new."""
    if row.room_id:
        return row.room_id
    room_id = await direct_room_between(services, row.mentor_id, row.mentee_id)
    async with services.db.transaction() as s:
        await s.execute(update(Mentorship).where(Mentorship.id == row.id).values(room_id=room_id))
    row.room_id = room_id
    return room_id


async def close_mentorship(services: "Services", user: AuthUser, mentorship_id: str, reason: str = "") -> Mentorship:
    """End an active mentorship (either side) or withdraw a request (the mentee). ``reason``
    ("rematch", "blocked"; by default who ended it) is for staff and the ranking only; the other
    side is told it ended, never why."""
    now = datetime.now(timezone.utc)
    async with services.db.transaction() as s:
        row = await _own(s, mentorship_id, user.id)
        if reason == "rematch" and user.id != row.mentee_id:
            raise Forbidden("That request does not exist or is not yours.")
        if row.status == REQUESTED and user.id == row.mentee_id:
            row.status, row.end_reason = WITHDRAWN, "withdrawn"
        elif row.status == ACTIVE or (row.status == REQUESTED and reason == "blocked"):
            row.status = ENDED
            row.end_reason = reason or ("mentor_ended" if user.id == row.mentor_id else "mentee_ended")
        elif row.status == REQUESTED:
            raise Forbidden("That request does not exist or is not yours.")
        else:
            raise Conflict("This mentorship has already ended.", code="mentorship_closed")
        row.open_pair, row.pending_mentee, row.ended_at, row.ended_by = None, None, now, user.id
        await record_audit(s, user.id, f"mentorship.{row.status}", target_id=row.id, detail={"reason": reason})
    return row


async def open_between(session: AsyncSession, a: str, b: str) -> list[str]:
    """Ids of the requested or active mentorships between two people, either way round."""
    return list(await session.scalars(select(Mentorship.id).where(
        Mentorship.open_pair.in_([_pair(a, b), _pair(b, a)]))))


async def list_for(session: AsyncSession, user_id: str) -> list[dict[str, Any]]:
    """The user's open mentorships and requests, then the closed ones of the last 30 days."""
    since = datetime.now(timezone.utc) - timedelta(days=30)
    rows = list(await session.scalars(
        select(Mentorship).where(or_(Mentorship.mentor_id == user_id, Mentorship.mentee_id == user_id),
                                 or_(Mentorship.status.in_(OPEN), Mentorship.requested_at >= since))
        .order_by(Mentorship.requested_at.desc()).limit(LIST_LIMIT)))
    who = await people(session, list({i for r in rows for i in (r.mentor_id, r.mentee_id)}))
    views = [await mentorship_view(session, r, user_id, who) for r in rows]
    views.sort(key=lambda v: v["status"] not in OPEN)
    return views


async def expire_due(services: "Services") -> list[Mentorship]:
    """Close the requests nobody answered in time (each once, whichever process gets there first)."""
    now = datetime.now(timezone.utc)
    async with services.db.read() as s:
        due = list(await s.scalars(select(Mentorship.id).where(Mentorship.status == REQUESTED, Mentorship.expires_at <= now)
                                   .order_by(Mentorship.expires_at).limit(EXPIRY_BATCH)))
    expired = []
    ttl_hours = services.settings.match_request_ttl_seconds / 3600
    for mentorship_id in due:
        async with services.db.transaction() as s:
            changed = await s.execute(
                update(Mentorship).where(Mentorship.id == mentorship_id, Mentorship.status == REQUESTED)
                .values(status=EXPIRED, open_pair=None, pending_mentee=None, end_reason="expired", ended_at=now))
            if changed.rowcount != 1:
                continue
            row = await s.get(Mentorship, mentorship_id)
            profile = await s.get(MentorProfile, row.mentor_id) if row else None
            if row is None:
                continue
            if profile is not None:
                _learn_response_time(profile, ttl_hours)
            await record_audit(s, None, "mentorship.expired", target_id=row.id)
            expired.append(row)
    return expired
