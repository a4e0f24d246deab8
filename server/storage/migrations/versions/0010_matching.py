"""mentorship: mentor profiles, sealed mentee intakes, requests and mentorships, session feedback,
blocks, reports, pseudonyms; matching_profiles (free topics in clear) folded into them

A mentor's old topics that name one of the support areas become their profile's areas; a mentee's
become the support they look for, sealed in their intake (so this needs the keyring when such rows
exist, like 0007). Topics outside the list of areas are dropped: the ranking and the filters only
know the listed areas.

Revision ID: 0010_matching
Revises: 0008_crisis_outreach (and needs 0003_scheduling)
"""
import json
from datetime import datetime, timezone

import sqlalchemy as sa
from alembic import op

from server.core.keyring import Keyring

revision = "0010_matching"
down_revision = "0008_crisis_outreach"
branch_labels = None
# matching_profiles and scheduled_sessions come from the scheduling branch.
depends_on = "0003_scheduling"

UTC_TIME = sa.DateTime(timezone=True)
# Frozen copies of server/matching/vocabulary.py AREAS and the intake's record ids.
AREAS = ("anxiety", "depression", "grief", "addiction_recovery", "ptsd", "lgbtq", "youth", "relationships", "stress",
         "self_esteem", "loneliness", "family", "trauma", "eating_disorders", "sleep", "chronic_illness")
MENTOR_ROLES = ("mentor", "leader")


def _intake_key(user_id: str) -> str:
    return f"intake:{user_id}"


INTAKE_RECORD = "intake"


def upgrade() -> None:
    # Plain ALTER TABLE, not a batch copy: on SQLite a batch would drop and re-create `users`,
    # which every other table references.
    op.add_column("users", sa.Column("pseudonym", sa.String(40), nullable=True))
    op.create_index("ix_users_pseudonym", "users", ["pseudonym"], unique=True)
    op.create_table(
        "mentor_profiles",
        sa.Column("user_id", sa.String(32), sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("track", sa.String(16), nullable=False),
        sa.Column("areas", sa.JSON(), nullable=False),
        sa.Column("lived_experience", sa.JSON(), nullable=False),
        sa.Column("bio", sa.Text(), nullable=False),
        sa.Column("gender", sa.String(16), nullable=False),
        sa.Column("age_range", sa.String(8), nullable=False),
        sa.Column("capacity", sa.Integer(), nullable=False),
        sa.Column("accepting", sa.Boolean(), nullable=False),
        sa.Column("certification", sa.String(16), nullable=False),
        sa.Column("credential_verified", sa.Boolean(), nullable=False),
        sa.Column("exposure", sa.Float(), nullable=False),
        sa.Column("exposure_at", UTC_TIME, nullable=False),
        sa.Column("response_hours", sa.Float(), nullable=True),
        sa.Column("responses", sa.Integer(), nullable=False),
        sa.Column("rating_sum", sa.Integer(), nullable=False),
        sa.Column("rating_count", sa.Integer(), nullable=False),
        sa.Column("created_at", UTC_TIME, nullable=False),
        sa.Column("updated_at", UTC_TIME, nullable=False),
    )
    op.create_index("ix_mentor_profiles_updated_at", "mentor_profiles", ["updated_at"])
    op.create_table(
        "mentee_intakes",
        sa.Column("user_id", sa.String(32), sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("wrapped_key", sa.LargeBinary(), nullable=False),
        sa.Column("nonce", sa.LargeBinary(), nullable=False),
        sa.Column("ciphertext", sa.LargeBinary(), nullable=False),
        sa.Column("updated_at", UTC_TIME, nullable=False),
    )
    op.create_table(
        "mentorships",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("mentor_id", sa.String(32), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
        sa.Column("mentee_id", sa.String(32), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("open_pair", sa.String(65), nullable=True, unique=True),
        sa.Column("pending_mentee", sa.String(32), nullable=True, unique=True),
        sa.Column("wrapped_key", sa.LargeBinary(), nullable=True),
        sa.Column("note_nonce", sa.LargeBinary(), nullable=True),
        sa.Column("note_ciphertext", sa.LargeBinary(), nullable=True),
        sa.Column("room_id", sa.String(32), nullable=True),
        sa.Column("requested_at", UTC_TIME, nullable=False),
        sa.Column("expires_at", UTC_TIME, nullable=False),
        sa.Column("responded_at", UTC_TIME, nullable=True),
        sa.Column("ended_at", UTC_TIME, nullable=True),
        sa.Column("ended_by", sa.String(32), nullable=True),
        sa.Column("end_reason", sa.String(16), nullable=False),
    )
    op.create_index("ix_mentorships_mentor_status", "mentorships", ["mentor_id", "status"])
    op.create_index("ix_mentorships_mentee_status", "mentorships", ["mentee_id", "status"])
    op.create_index("ix_mentorships_due", "mentorships", ["status", "expires_at"])
    op.create_table(
        "mentorship_feedback",
        sa.Column("session_id", sa.String(32), sa.ForeignKey("scheduled_sessions.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("author_id", sa.String(32), sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("subject_id", sa.String(32), nullable=False),
        sa.Column("rating", sa.Integer(), nullable=False),
        sa.Column("wrapped_key", sa.LargeBinary(), nullable=True),
        sa.Column("nonce", sa.LargeBinary(), nullable=True),
        sa.Column("ciphertext", sa.LargeBinary(), nullable=True),
        sa.Column("created_at", UTC_TIME, nullable=False),
    )
    op.create_index("ix_mentorship_feedback_subject_id", "mentorship_feedback", ["subject_id"])
    op.create_table(
        "user_blocks",
        sa.Column("blocker_id", sa.String(32), sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("blocked_id", sa.String(32), sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("created_at", UTC_TIME, nullable=False),
    )
    op.create_index("ix_user_blocks_blocked", "user_blocks", ["blocked_id"])
    op.create_table(
        "user_reports",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("reporter_id", sa.String(32), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("reported_id", sa.String(32), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("room_id", sa.String(32), nullable=True),
        sa.Column("reason", sa.String(24), nullable=False),
        sa.Column("wrapped_key", sa.LargeBinary(), nullable=False),
        sa.Column("nonce", sa.LargeBinary(), nullable=False),
        sa.Column("ciphertext", sa.LargeBinary(), nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("created_at", UTC_TIME, nullable=False),
        sa.Column("resolved_by", sa.String(32), nullable=True),
        sa.Column("resolved_at", UTC_TIME, nullable=True),
    )
    op.create_index("ix_user_reports_status", "user_reports", ["status", "created_at"])
    _fold_matching_profiles()
    op.drop_table("matching_profiles")


def _fold_matching_profiles() -> None:
    bind = op.get_bind()
    old = sa.table("matching_profiles", sa.column("user_id", sa.String), sa.column("topics", sa.JSON))
    users = sa.table("users", sa.column("id", sa.String), sa.column("role", sa.String))
    rows = bind.execute(sa.select(old.c.user_id, old.c.topics, users.c.role).join(users, users.c.id == old.c.user_id)).all()
    now = datetime.now(timezone.utc)
    profiles = sa.table("mentor_profiles", *[sa.column(c) for c in (
        "user_id", "track", "areas", "lived_experience", "bio", "gender", "age_range", "capacity", "accepting",
        "certification", "credential_verified", "exposure", "exposure_at", "response_hours", "responses",
        "rating_sum", "rating_count", "created_at", "updated_at")])
    intakes = sa.table("mentee_intakes", *[sa.column(c) for c in ("user_id", "wrapped_key", "nonce", "ciphertext", "updated_at")])
    keyring = None
    for user_id, topics, role in rows:
        areas = [t for t in (topics or []) if t in AREAS]
        if role in MENTOR_ROLES:
            bind.execute(profiles.insert().values(
                user_id=user_id, track="peer", areas=areas, lived_experience=[], bio="", gender="", age_range="",
                capacity=3, accepting=True, certification="", credential_verified=False, exposure=0.0, exposure_at=now,
                response_hours=None, responses=0, rating_sum=0, rating_count=0, created_at=now, updated_at=now))
        elif areas:
            keyring = keyring or _keyring()
            owner = _intake_key(user_id)
            wrapped = keyring.new_room_key(owner)
            nonce, ciphertext = keyring.seal(owner, wrapped, INTAKE_RECORD, json.dumps({"support": areas}))
            bind.execute(intakes.insert().values(user_id=user_id, wrapped_key=wrapped, nonce=nonce, ciphertext=ciphertext,
                                                 updated_at=now))


def _keyring() -> Keyring:
    keyring = op.get_context().config.attributes.get("keyring")
    if keyring is None:
        raise RuntimeError("0010_matching seals mentees' old topics: run it through the server (python -m server) "
                           "or give alembic the keyring in config.attributes['keyring'].")
    return keyring


def downgrade() -> None:
    op.create_table(
        "matching_profiles",
        sa.Column("user_id", sa.String(32), sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("topics", sa.JSON(), nullable=False),
        sa.Column("updated_at", UTC_TIME, nullable=False),
    )
    for table in ("user_reports", "user_blocks", "mentorship_feedback", "mentorships", "mentee_intakes", "mentor_profiles"):
        op.drop_table(table)
    op.drop_index("ix_users_pseudonym", table_name="users")
    op.drop_column("users", "pseudonym")

