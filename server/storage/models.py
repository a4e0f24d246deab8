"""Tables. Message bodies are never stored in plaintext: only AES-GCM ciphertext and nonce."""

from __future__ import annotations

import uuid
from datetime import date, datetime, timezone
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from server.core.roles import MEMBER, MENTEE

from .utc import UTCDateTime


def new_id() -> str:
    return uuid.uuid4().hex


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class Base(DeclarativeBase):
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSON, list[Any]: JSON}


class User(Base):
    __tablename__ = "users"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    display_name: Mapped[str] = mapped_column(String(100))
    role: Mapped[str] = mapped_column(String(20), default=MENTEE)
    languages: Mapped[list[Any]] = mapped_column(JSON, default=list)
    locale: Mapped[str] = mapped_column(String(20), default="en")
    country: Mapped[str] = mapped_column(String(2), default="")
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    translate_messages: Mapped[bool] = mapped_column(Boolean, default=False)
    # A chosen name shown to others instead of display_name and username (migration 0010; see
    # server/accounts/users.py public_identity). NULL: shown by their names.
    pseudonym: Mapped[str | None] = mapped_column(String(40), nullable=True, unique=True, index=True)
    # Bumped by "log out everywhere" and by a ban: every token carrying an older epoch dies.
    token_epoch: Mapped[int] = mapped_column(Integer, default=0)
    banned: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class RevokedToken(Base):
    __tablename__ = "revoked_tokens"

    jti: Mapped[str] = mapped_column(String(32), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column()


class Setting(Base):
    """Small server-wide state that must be shared by every process (e.g. the signing key id)."""

    __tablename__ = "server_settings"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class Room(Base):
    __tablename__ = "rooms"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    kind: Mapped[str] = mapped_column(String(10))  # "direct" | "group"
    created_by: Mapped[str] = mapped_column(ForeignKey("users.id"))
    # Highest allocated message seq; bumped in the same transaction as the insert, so gap-free.
    last_seq: Mapped[int] = mapped_column(Integer, default=0)
    # The room's AES-256 data key, wrapped by the master key. NULL after crypto-shredding.
    wrapped_key: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    master_key_id: Mapped[str] = mapped_column(String(16), default="")
    # The room's own words (title, agenda items) as JSON sealed with its data key: they say what
    # its members live with. Read and written only through server/chat/room_text.py.
    text_nonce: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    text_ciphertext: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    # Informed consent to safety monitoring (crisis scanning), shown to every member.
    safety_monitoring: Mapped[bool] = mapped_column(Boolean, default=True)
    settings: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # End-to-end encrypted (docs/private-rooms.md): messages arrive sealed by the members' devices
    # and the server never holds their keys. Chosen at creation, never changed.
    private: Mapped[bool] = mapped_column(Boolean, default=False)


class Membership(Base):
    __tablename__ = "memberships"

    room_id: Mapped[str] = mapped_column(ForeignKey("rooms.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    role: Mapped[str] = mapped_column(String(20), default=MEMBER)
    last_read_seq: Mapped[int] = mapped_column(Integer, default=0)
    muted_until: Mapped[datetime | None] = mapped_column(nullable=True)
    joined_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (Index("ix_memberships_user", "user_id"),)


class Message(Base):
    __tablename__ = "messages"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    room_id: Mapped[str] = mapped_column(ForeignKey("rooms.id", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column(Integer)
    sender_id: Mapped[str] = mapped_column(ForeignKey("users.id"))
    client_id: Mapped[str] = mapped_column(String(64))
    nonce: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    ciphertext: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    language: Mapped[str] = mapped_column(String(8), default="")
    kind: Mapped[str] = mapped_column(String(10), default="text")  # "text" | "system"
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    edited_at: Mapped[datetime | None] = mapped_column(nullable=True)
    deleted_at: Mapped[datetime | None] = mapped_column(nullable=True)
    # Crisis scanning's word on a message nobody could vouch for: "unscanned" (no lexicon and no
    # translation for its language) or "review" (the scan or its alert failed). None: scanned, or
    # a room without safety monitoring.
    safety: Mapped[str | None] = mapped_column(String(16), nullable=True, index=True)
    # A private room's message: the envelope its sender's device sealed (server/chat/sealed.py),
    # stored and relayed as is; ``nonce``/``ciphertext`` stay empty.
    sealed: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    # The message this one answers, always of the same room (checked in server/chat/replies.py).
    reply_to: Mapped[str | None] = mapped_column(String(32), nullable=True)

    __table_args__ = (
        UniqueConstraint("room_id", "seq", name="uq_messages_room_seq"),
        UniqueConstraint("room_id", "sender_id", "client_id", name="uq_messages_client_id"),
    )


class MessageReaction(Base):
    """One person's emoji on one message. The emoji is sealed with the room key like a body (a
    reaction to "I relapsed" says as much as a reply); ``tag`` is a keyed digest of it, so one
    person adds each emoji once without the database learning which emoji it is."""

    __tablename__ = "message_reactions"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    room_id: Mapped[str] = mapped_column(ForeignKey("rooms.id", ondelete="CASCADE"))
    message_id: Mapped[str] = mapped_column(ForeignKey("messages.id", ondelete="CASCADE"))
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    tag: Mapped[str] = mapped_column(String(64))
    nonce: Mapped[bytes] = mapped_column(LargeBinary)
    ciphertext: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (
        UniqueConstraint("message_id", "user_id", "tag", name="uq_message_reactions_once"),
        Index("ix_message_reactions_room", "room_id"),
    )


class AuditEntry(Base):
    """Append-only record of privileged and moderation actions: who, what, on what, when."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    actor_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    action: Mapped[str] = mapped_column(String(64))
    room_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    target_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    __table_args__ = (Index("ix_audit_room", "room_id"),)


# --- Calls (signaling/) -------------------------------------------------------------------------


class Call(Base):
    """One call in a room. While it is not ended, ``active_room_id`` holds the room id, and its
    unique constraint lets the database settle two people pressing "call" at the same moment."""

    __tablename__ = "calls"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    room_id: Mapped[str] = mapped_column(ForeignKey("rooms.id", ondelete="CASCADE"))
    active_room_id: Mapped[str | None] = mapped_column(String(32), nullable=True, unique=True)
    mode: Mapped[str] = mapped_column(String(8), default="p2p")  # "p2p" | "relay"
    media: Mapped[str] = mapped_column(String(8), default="video")  # "audio" | "video"
    state: Mapped[str] = mapped_column(String(10), default="ringing")  # ringing | active | ended
    started_by: Mapped[str] = mapped_column(String(32))
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(nullable=True)
    end_reason: Mapped[str] = mapped_column(String(20), default="")


class CallParticipant(Base):
    __tablename__ = "call_participants"

    call_id: Mapped[str] = mapped_column(ForeignKey("calls.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    state: Mapped[str] = mapped_column(String(10), default="invited")  # invited | joined | declined | left
    # The connection that holds the peer: signaling goes to it, and its loss ends the user's part.
    sid: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # Perfect negotiation: the polite side rolls back its own offer on glare.
    polite: Mapped[bool] = mapped_column(Boolean, default=True)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


# --- Groups (issue 4): pending invitations and join requests --------------------------------
# The rest of a group's live state (lock, pins, slow mode, hand-raise queue, agenda, sessions,
# leadership hand-over) is small and read with the room, so it lives in Room.settings["group"].


class GroupInvitation(Base):
    """A pending way into a group: a moderator's invitation or a user's request to join.

    One row per (room, user): an invitation answered by a matching request (or the reverse)
    becomes a membership at once, so both never wait side by side.
    """

    __tablename__ = "group_invitations"

    room_id: Mapped[str] = mapped_column(ForeignKey("rooms.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    kind: Mapped[str] = mapped_column(String(10))  # "invite" | "request"
    # Who invited (for an invite) or the requester (for a request).
    actor_id: Mapped[str] = mapped_column(String(32))
    note: Mapped[str] = mapped_column(String(500), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (Index("ix_group_invitations_user", "user_id"),)


# ---------------------------------------------------------------------------
# Scheduling, matching and rewards (server/scheduling, server/matching, server/rewards;
# migration 0003_scheduling). Every time is stored in UTC.
# ---------------------------------------------------------------------------


class AvailabilityWindow(Base):
    """One weekly window in its owner's own zone: "Mondays 09:00–12:00 America/New_York"."""

    __tablename__ = "availability_windows"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    weekday: Mapped[int] = mapped_column(Integer)  # 0 = Monday, in the owner's zone
    start_minute: Mapped[int] = mapped_column(Integer)  # minutes after local midnight
    end_minute: Mapped[int] = mapped_column(Integer)  # exclusive; 1440 = the next midnight
    timezone: Mapped[str] = mapped_column(String(64))  # IANA name

    __table_args__ = (Index("ix_availability_user", "user_id"),)


class ScheduledSession(Base):
    """A 1:1 or group session; status: scheduled → live → completed | no_show, or cancelled."""

    __tablename__ = "scheduled_sessions"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    kind: Mapped[str] = mapped_column(String(12))  # "one_to_one" | "group"
    room_id: Mapped[str] = mapped_column(ForeignKey("rooms.id", ondelete="CASCADE"))
    host_id: Mapped[str] = mapped_column(ForeignKey("users.id"))  # the mentor or the group leader
    mentee_id: Mapped[str | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    # Occurrences of one weekly recurring group session share a series id.
    series_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    title: Mapped[str] = mapped_column(String(200), default="")
    starts_at: Mapped[datetime] = mapped_column()
    ends_at: Mapped[datetime] = mapped_column()
    status: Mapped[str] = mapped_column(String(12), default="scheduled")
    # True once everyone the session needs has joined (1:1: both; group: leader + one member).
    quorum: Mapped[bool] = mapped_column(Boolean, default=False)
    absent_ids: Mapped[list[Any]] = mapped_column(JSON, default=list)
    # iCalendar SEQUENCE: bumped at each reschedule or cancel so calendars replace the event.
    sequence: Mapped[int] = mapped_column(Integer, default=0)
    created_by: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (
        Index("ix_sessions_host_start", "host_id", "starts_at"),
        Index("ix_sessions_mentee_start", "mentee_id", "starts_at"),
        Index("ix_sessions_room_start", "room_id", "starts_at"),
        Index("ix_sessions_status_start", "status", "starts_at"),
    )


class SessionClaim(Base):
    """A person's time, one row per 15-minute UTC block a session covers. The primary key is
    what makes double booking impossible across concurrent requests and server processes."""

    __tablename__ = "session_claims"

    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    block_start: Mapped[datetime] = mapped_column(primary_key=True)
    session_id: Mapped[str] = mapped_column(ForeignKey("scheduled_sessions.id", ondelete="CASCADE"))

    __table_args__ = (Index("ix_session_claims_session", "session_id"),)


class SessionAttendance(Base):
    __tablename__ = "session_attendance"

    session_id: Mapped[str] = mapped_column(ForeignKey("scheduled_sessions.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    joined_at: Mapped[datetime] = mapped_column(default=utcnow)


class SessionReminder(Base):
    """A reminder due at a fixed time; ``sent_at`` is set by the one process that claims it."""

    __tablename__ = "session_reminders"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    session_id: Mapped[str] = mapped_column(ForeignKey("scheduled_sessions.id", ondelete="CASCADE"))
    offset_seconds: Mapped[int] = mapped_column(Integer)
    due_at: Mapped[datetime] = mapped_column()
    sent_at: Mapped[datetime | None] = mapped_column(nullable=True)

    __table_args__ = (
        UniqueConstraint("session_id", "offset_seconds", name="uq_session_reminders_offset"),
        Index("ix_session_reminders_due", "sent_at", "due_at"),
    )


class CalendarFeed(Base):
    """The secret in a user's iCalendar feed URL; rotating it revokes the old URL."""

    __tablename__ = "calendar_feeds"

    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    secret: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class RewardOutbox(Base):
    """Reward events written in the same transaction as what earned them, delivered later."""

    __tablename__ = "reward_outbox"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    idempotency_key: Mapped[str] = mapped_column(String(128), unique=True)
    kind: Mapped[str] = mapped_column(String(40))
    user_id: Mapped[str] = mapped_column(String(32))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column(nullable=True)
    last_error: Mapped[str] = mapped_column(String(500), default="")

    __table_args__ = (Index("ix_reward_outbox_due", "delivered_at", "next_attempt_at"),)


class RewardLedgerEntry(Base):
    """The local token ledger (the default reward back end): one row per idempotency key."""

    __tablename__ = "reward_ledger"

    idempotency_key: Mapped[str] = mapped_column(String(128), primary_key=True)
    kind: Mapped[str] = mapped_column(String(40))
    user_id: Mapped[str] = mapped_column(String(32))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    occurred_at: Mapped[datetime] = mapped_column()
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (Index("ix_reward_ledger_user", "user_id"),)


# --- Crisis escalation (crisis/alerts.py, crisis/escalation.py; migration 0004_crisis) ----------


class CrisisAlert(Base):
    """A risky chat message waiting for a responder. Timers live in ``escalate_at`` so they survive
    restarts; ``level`` is the claim token that lets only one process fire each escalation step."""

    __tablename__ = "crisis_alerts"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    room_id: Mapped[str] = mapped_column(ForeignKey("rooms.id", ondelete="CASCADE"))
    message_id: Mapped[str] = mapped_column(String(32))
    message_seq: Mapped[int] = mapped_column(Integer)
    author_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    tier: Mapped[int] = mapped_column(Integer)
    # The quote around the strongest match, encrypted with the room key like the message itself.
    excerpt_nonce: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    excerpt_ciphertext: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    # Detection.to_dict() (language, the matched phrases, the reasons quoting them) sealed with the
    # room key: the phrases are the writer's own words about how they would die.
    detection_nonce: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    detection_ciphertext: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    status: Mapped[str] = mapped_column(String(10), default="open")  # open | claimed | resolved
    level: Mapped[int] = mapped_column(Integer, default=0)
    # When the next escalation step is due; NULL once claimed or resolved.
    escalate_at: Mapped[datetime | None] = mapped_column(nullable=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    claimed_by: Mapped[str | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    claimed_at: Mapped[datetime | None] = mapped_column(nullable=True)
    resolved_by: Mapped[str | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    resolved_at: Mapped[datetime | None] = mapped_column(nullable=True)
    note_nonce: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    note_ciphertext: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    # Migration 0008 (crisis/outreach.py): how the alert ended, the room where the responder talks
    # with the writer (the alert's own room, or a private "crisis" room), and their first message there.
    outcome: Mapped[str | None] = mapped_column(String(24), nullable=True)
    crisis_room_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    contact_at: Mapped[datetime | None] = mapped_column(nullable=True)

    __table_args__ = (
        Index("ix_crisis_alerts_due", "status", "escalate_at"),
        Index("ix_crisis_alerts_room", "room_id"),
    )


class ResponderOnCall(Base):
    """Responders who take the first step of the escalation chain while the row exists."""

    __tablename__ = "crisis_on_call"

    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    since: Mapped[datetime] = mapped_column(default=utcnow)


class SafetyPlan(Base):
    """A person's own safety plan (crisis/safety_plans.py), sealed with a data key of its own that
    the master key wraps (like a room's): it names the people they would call and the means they
    would put away. Deleting the person deletes the row, key and all."""

    __tablename__ = "crisis_safety_plans"

    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    wrapped_key: Mapped[bytes] = mapped_column(LargeBinary)
    nonce: Mapped[bytes] = mapped_column(LargeBinary)
    ciphertext: Mapped[bytes] = mapped_column(LargeBinary)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


# --- Mentorship (server/mentorship, server/matching; migration 0010_matching) -------------------


class MentorProfile(Base):
    """What a mentee sees of a mentor, what the ranking reads, and the signals it learns from.

    ``certification`` and ``credential_verified`` are set by staff only (``python -m server
    mentors ...`` or ``staff:certify``). ``exposure`` counts how often the mentor was suggested,
    decaying with ``matching_exposure_half_life_hours`` from ``exposure_at`` (the fairness guard)."""

    __tablename__ = "mentor_profiles"

    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    track: Mapped[str] = mapped_column(String(16), default="peer")
    areas: Mapped[list[Any]] = mapped_column(JSON, default=list)
    lived_experience: Mapped[list[Any]] = mapped_column(JSON, default=list)
    bio: Mapped[str] = mapped_column(Text, default="")
    gender: Mapped[str] = mapped_column(String(16), default="")
    age_range: Mapped[str] = mapped_column(String(8), default="")
    capacity: Mapped[int] = mapped_column(Integer, default=3)
    accepting: Mapped[bool] = mapped_column(Boolean, default=True)
    certification: Mapped[str] = mapped_column(String(16), default="")
    credential_verified: Mapped[bool] = mapped_column(Boolean, default=False)
    exposure: Mapped[float] = mapped_column(Float, default=0.0)
    exposure_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Hours to answer a request, as a moving average over the answers (an expiry counts as the TTL).
    response_hours: Mapped[float | None] = mapped_column(Float, nullable=True)
    responses: Mapped[int] = mapped_column(Integer, default=0)
    rating_sum: Mapped[int] = mapped_column(Integer, default=0)
    rating_count: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Moved by every change the ranking must see at once (the matching index compares the newest).
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class MenteeIntake(Base):
    """What a mentee looks for, sealed as one JSON value with a data key of their own (record id
    ``intake:<user id>``): the support they look for says what they live with."""

    __tablename__ = "mentee_intakes"

    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    wrapped_key: Mapped[bytes] = mapped_column(LargeBinary)
    nonce: Mapped[bytes] = mapped_column(LargeBinary)
    ciphertext: Mapped[bytes] = mapped_column(LargeBinary)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class Mentorship(Base):
    """A mentee's request to a mentor and, once accepted, their mentorship.

    requested → active → ended, or requested → declined | expired | withdrawn. While a row is
    requested or active it holds one of the mentor's seats (``mentor_profiles.capacity``), counted
    under a lock on the mentor's profile row; ``open_pair`` and ``pending_mentee`` are unique, so a
    pair has one open mentorship and a mentee waits on one request at a time, across processes."""

    __tablename__ = "mentorships"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    mentor_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    mentee_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(12), default="requested")
    open_pair: Mapped[str | None] = mapped_column(String(65), nullable=True, unique=True)
    pending_mentee: Mapped[str | None] = mapped_column(String(32), nullable=True, unique=True)
    # The mentee's note to the mentor, sealed with the row's own data key (record ``mentorship:<id>``).
    wrapped_key: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    note_nonce: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    note_ciphertext: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    room_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    requested_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column()
    responded_at: Mapped[datetime | None] = mapped_column(nullable=True)
    ended_at: Mapped[datetime | None] = mapped_column(nullable=True)
    ended_by: Mapped[str | None] = mapped_column(String(32), nullable=True)
    # Why it closed, for staff and the ranking; never shown to the other side.
    end_reason: Mapped[str] = mapped_column(String(16), default="")

    __table_args__ = (
        Index("ix_mentorships_mentor_status", "mentor_id", "status"),
        Index("ix_mentorships_mentee_status", "mentee_id", "status"),
        Index("ix_mentorships_due", "status", "expires_at"),
    )


class MentorshipFeedback(Base):
    """One person's rating of a completed 1:1 session, and a comment sealed for staff only."""

    __tablename__ = "mentorship_feedback"

    session_id: Mapped[str] = mapped_column(ForeignKey("scheduled_sessions.id", ondelete="CASCADE"), primary_key=True)
    author_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    subject_id: Mapped[str] = mapped_column(String(32), index=True)
    rating: Mapped[int] = mapped_column(Integer)
    wrapped_key: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    nonce: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    ciphertext: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class UserBlock(Base):
    """``blocker_id`` blocked ``blocked_id``: in either direction, no direct messages, calls,
    bookings or match requests between them (server/accounts/blocks.py)."""

    __tablename__ = "user_blocks"

    blocker_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    blocked_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (Index("ix_user_blocks_blocked", "blocked_id"),)


class UserReport(Base):
    """A report to staff about a person, with copies of the reported messages, sealed with the
    report's own data key (record ``report:<id>``). Kept when either person is erased: it is the
    safety record staff act on."""

    __tablename__ = "user_reports"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    reporter_id: Mapped[str] = mapped_column(ForeignKey("users.id"))
    reported_id: Mapped[str] = mapped_column(ForeignKey("users.id"))
    room_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    reason: Mapped[str] = mapped_column(String(24))
    wrapped_key: Mapped[bytes] = mapped_column(LargeBinary)
    nonce: Mapped[bytes] = mapped_column(LargeBinary)
    ciphertext: Mapped[bytes] = mapped_column(LargeBinary)
    status: Mapped[str] = mapped_column(String(10), default="open")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    resolved_by: Mapped[str | None] = mapped_column(String(32), nullable=True)
    resolved_at: Mapped[datetime | None] = mapped_column(nullable=True)

    __table_args__ = (Index("ix_user_reports_status", "status", "created_at"),)


# --- Files, resources and shared goals (server/files, server/goals; migration 0011_files_goals) --


class RoomFile(Base):
    """A file shared in a room. Its bytes live outside the database, sealed chunk by chunk with the
    room's key (server/files/blobs.py); its name is sealed here. It is shown in the conversation by
    the message of kind "file" its uploader sent with ``client_id``: the two are one, and a file
    whose message is deleted (or never stored) is no longer served and is swept away."""

    __tablename__ = "room_files"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    room_id: Mapped[str] = mapped_column(ForeignKey("rooms.id", ondelete="CASCADE"))
    uploader_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    client_id: Mapped[str] = mapped_column(String(64))
    media_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(Integer)  # plaintext bytes
    name_nonce: Mapped[bytes] = mapped_column(LargeBinary)
    name_ciphertext: Mapped[bytes] = mapped_column(LargeBinary)
    # Images only: pixel size and a small WebP preview, sealed with the room key.
    width: Mapped[int | None] = mapped_column(Integer, nullable=True)
    height: Mapped[int | None] = mapped_column(Integer, nullable=True)
    thumbnail_nonce: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    thumbnail_ciphertext: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (
        Index("ix_room_files_room", "room_id"),
        Index("ix_room_files_uploader", "uploader_id"),
    )


class RoomResource(Base):
    """A resource pinned to a room's library: a link or a file of the room, with a title. Title and
    link are sealed with the room key (they say what its members work on)."""

    __tablename__ = "room_resources"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    room_id: Mapped[str] = mapped_column(ForeignKey("rooms.id", ondelete="CASCADE"))
    pinned_by: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    file_id: Mapped[str | None] = mapped_column(ForeignKey("room_files.id", ondelete="CASCADE"), nullable=True)
    nonce: Mapped[bytes] = mapped_column(LargeBinary)
    ciphertext: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (Index("ix_room_resources_room", "room_id"),)


class Goal(Base):
    """A goal a mentee and their mentor agree on, kept in their conversation (the mentorship).
    Its words (title, why it matters, target date, steps) are sealed with the room key; status and
    times stay clear for the queries. ``proposed_by`` waits for the other one to agree."""

    __tablename__ = "goals"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    room_id: Mapped[str] = mapped_column(ForeignKey("rooms.id", ondelete="CASCADE"))
    # The goal is the mentee's: deleting them deletes it; deleting the mentor leaves it to the mentee.
    mentee_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(10), default="proposed")  # proposed | active | achieved | dropped
    proposed_by: Mapped[str] = mapped_column(String(32))
    nonce: Mapped[bytes] = mapped_column(LargeBinary)
    ciphertext: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    agreed_at: Mapped[datetime | None] = mapped_column(nullable=True)
    closed_at: Mapped[datetime | None] = mapped_column(nullable=True)

    __table_args__ = (Index("ix_goals_room", "room_id"), Index("ix_goals_mentee", "mentee_id"))


class GoalCheckIn(Base):
    """The mentee's check-in on a goal: a 0–10 rating and a note (sealed), at most one per day in
    the mentee's own time zone; the unique key settles two check-ins sent at the same moment."""

    __tablename__ = "goal_check_ins"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    goal_id: Mapped[str] = mapped_column(ForeignKey("goals.id", ondelete="CASCADE"))
    day: Mapped[date] = mapped_column(Date)
    nonce: Mapped[bytes] = mapped_column(LargeBinary)
    ciphertext: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (UniqueConstraint("goal_id", "day", name="uq_goal_check_ins_day"),)


# --- Private rooms (server/private_rooms; migration 0012_private_rooms) ---------------------------


class Device(Base):
    """A member's browser: the public half of its identity key (ECDH P-256, SPKI base64). The
    private half never leaves the browser; others encrypt room keys to this one."""

    __tablename__ = "devices"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    identity_key: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (
        Index("ix_devices_user", "user_id"),
        UniqueConstraint("user_id", "identity_key", name="uq_devices_user_key"),
    )


class KeyShare(Base):
    """A to-device message: one sender's room key, encrypted to one device, kept until that
    device acknowledges it (so a device that was offline still gets it)."""

    __tablename__ = "key_shares"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    room_id: Mapped[str] = mapped_column(ForeignKey("rooms.id", ondelete="CASCADE"))
    target_device_id: Mapped[str] = mapped_column(ForeignKey("devices.id", ondelete="CASCADE"))
    sender_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    sender_device_id: Mapped[str] = mapped_column(String(32))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (Index("ix_key_shares_target", "target_device_id"),)
