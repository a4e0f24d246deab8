"""After a completed 1:1 session each side may rate it (1–5) and leave a comment.

The comment is for staff only, sealed with a data key of its own (record id
``feedback:<session id>:<author id>``). A mentee's rating feeds their mentor's average, which the
ranking reads; the mentor sees only aggregates, and the average only once at least
``MIN_RATINGS_SHOWN`` people rated, so no single mentee's rating can be read off it.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from server.core.audit import record_audit
from server.core.errors import Conflict, InvalidPayload
from server.core.i18n import N_
from server.core.keyring import Keyring
from server.scheduling.sessions import COMPLETED, load_for_participant, session_view
from server.storage.database import session_keyring
from server.storage.models import MentorProfile, Mentorship, MentorshipFeedback, ScheduledSession

from .requests import ACTIVE, people, public

if TYPE_CHECKING:
    from server.accounts.users import AuthUser
    from server.services import Services

COMMENT_MAX_CHARS = 2000
COMMENT_RECORD = "comment"
MIN_RATINGS_SHOWN = 3
RATE_WITHIN = timedelta(days=30)

FEEDBACK_MESSAGES: tuple[str, ...] = (
    N_("A rating is 1 to 5."),
    N_("A comment has at most {count} characters."),
    N_("Only a one-to-one session can be rated."),
    N_("A session can be rated once it has taken place."),
    N_("You already rated this session."),
)


def feedback_key(session_id: str, author_id: str) -> str:
    return f"feedback:{session_id}:{author_id}"


def _comment(keyring: Keyring, row: MentorshipFeedback) -> str:
    if row.ciphertext is None or row.nonce is None or row.wrapped_key is None:
        return ""
    return keyring.open(feedback_key(row.session_id, row.author_id), row.wrapped_key, COMMENT_RECORD, row.nonce, row.ciphertext)


async def give_feedback(services: "Services", user: "AuthUser", session_id: str, rating: int, comment: str) -> None:
    if not 1 <= rating <= 5:
        raise InvalidPayload("A rating is 1 to 5.")
    if len(comment) > COMMENT_MAX_CHARS:
        raise InvalidPayload("A comment has at most {count} characters.", params={"count": COMMENT_MAX_CHARS})
    try:
        async with services.db.transaction() as s:
            row = await load_for_participant(s, session_id, user.id)
            if row.kind != "one_to_one" or row.mentee_id is None:
                raise InvalidPayload("Only a one-to-one session can be rated.", code="not_rateable")
            if row.status != COMPLETED:
                raise Conflict("A session can be rated once it has taken place.", code="session_not_completed")
            subject = row.mentee_id if user.id == row.host_id else row.host_id
            entry = MentorshipFeedback(session_id=row.id, author_id=user.id, subject_id=subject, rating=rating,
                                       created_at=datetime.now(timezone.utc))
            if comment.strip():
                keyring = services.keyring
                key = feedback_key(row.id, user.id)
                entry.wrapped_key = keyring.new_room_key(key)
                entry.nonce, entry.ciphertext = keyring.seal(key, entry.wrapped_key, COMMENT_RECORD, comment.strip())
            s.add(entry)
            await s.flush()
            if subject == row.host_id:
                await s.execute(update(MentorProfile).where(MentorProfile.user_id == subject).values(
                    rating_sum=MentorProfile.rating_sum + rating, rating_count=MentorProfile.rating_count + 1))
    except IntegrityError:
        raise Conflict("You already rated this session.", code="already_rated") from None


async def sessions_to_rate(services: "Services", user: "AuthUser") -> list[dict[str, Any]]:
    """The user's completed 1:1 sessions of the last 30 days that they have not rated yet."""
    since = datetime.now(timezone.utc) - RATE_WITHIN
    async with services.db.read() as s:
        rated = select(MentorshipFeedback.session_id).where(MentorshipFeedback.author_id == user.id)
        rows = await s.scalars(select(ScheduledSession).where(
            ScheduledSession.kind == "one_to_one", ScheduledSession.status == COMPLETED, ScheduledSession.starts_at >= since,
            (ScheduledSession.host_id == user.id) | (ScheduledSession.mentee_id == user.id),
            ScheduledSession.id.not_in(rated)).order_by(ScheduledSession.starts_at.desc()).limit(20))
        return [session_view(r, user.timezone, user.locale) for r in rows]


async def mentor_stats(services: "Services", mentor_id: str) -> dict[str, Any]:
    """What a mentor sees of how they are doing: aggregates only."""
    async with services.db.read() as s:
        profile = await s.get(MentorProfile, mentor_id)
        active = await s.scalar(select(func.count()).select_from(Mentorship).where(
            Mentorship.mentor_id == mentor_id, Mentorship.status == ACTIVE)) or 0
        sessions = await s.scalar(select(func.count()).select_from(ScheduledSession).where(
            ScheduledSession.host_id == mentor_id, ScheduledSession.kind == "one_to_one", ScheduledSession.status == COMPLETED)) or 0
    count = profile.rating_count if profile else 0
    return {
        "ratings": count,
        "average_rating": round(profile.rating_sum / count, 2) if profile and count >= MIN_RATINGS_SHOWN else None,
        "response_hours": round(profile.response_hours, 1) if profile and profile.response_hours is not None else None,
        "active_mentees": active,
        "sessions_completed": sessions,
    }


async def feedback_about(services: "Services", staff_id: str, user_id: str) -> list[dict[str, Any]]:
    """Every rating and comment about one person, for staff; the reading is audited first."""
    async with services.db.transaction() as s:
        await record_audit(s, staff_id, "feedback.read", target_id=user_id[:64])
        rows = list(await s.scalars(select(MentorshipFeedback).where(MentorshipFeedback.subject_id == user_id)
                                    .order_by(MentorshipFeedback.created_at.desc()).limit(200)))
        who = await people(s, list({r.author_id for r in rows}))
        keyring = session_keyring(s)
        return [{
            "session_id": r.session_id, "author": public(who.get(r.author_id)), "rating": r.rating,
            "comment": _comment(keyring, r),
            "created_at": r.created_at.isoformat(),
        } for r in rows]


async def own_feedback(services: "Services", user_id: str) -> list[dict[str, Any]]:
    """What the person wrote, for their data export."""
    async with services.db.read() as s:
        rows = list(await s.scalars(select(MentorshipFeedback).where(MentorshipFeedback.author_id == user_id)))
        keyring = session_keyring(s)
        return [{
            "session_id": r.session_id, "rating": r.rating, "created_at": r.created_at.isoformat(),
            "comment": _comment(keyring, r),
        } for r in rows]
