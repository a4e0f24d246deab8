"""scheduling: availability, sessions, time claims, reminders, calendar feeds, matching profiles,
reward outbox and local ledger

Revision ID: 0003_scheduling
Revises: 0001
"""
import sqlalchemy as sa
from alembic import op

revision = "0003_scheduling"
down_revision = "0001"
branch_labels = ("scheduling",)
depends_on = None

UTC_TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "availability_windows",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("user_id", sa.String(length=32), nullable=False),
        sa.Column("weekday", sa.Integer(), nullable=False),
        sa.Column("start_minute", sa.Integer(), nullable=False),
        sa.Column("end_minute", sa.Integer(), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_availability_user", "availability_windows", ["user_id"])

    op.create_table(
        "scheduled_sessions",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=12), nullable=False),
        sa.Column("room_id", sa.String(length=32), nullable=False),
        sa.Column("host_id", sa.String(length=32), nullable=False),
        sa.Column("mentee_id", sa.String(length=32), nullable=True),
        sa.Column("series_id", sa.String(length=32), nullable=True),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("starts_at", UTC_TIME, nullable=False),
        sa.Column("ends_at", UTC_TIME, nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("quorum", sa.Boolean(), nullable=False),
        sa.Column("absent_ids", sa.JSON(), nullable=False),
        sa.Column("sequence", sa.Integer(), nullable=False),
        sa.Column("created_by", sa.String(length=32), nullable=False),
        sa.Column("created_at", UTC_TIME, nullable=False),
        sa.ForeignKeyConstraint(["room_id"], ["rooms.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["host_id"], ["users.id"]),
        sa.ForeignKeyConstraint(["mentee_id"], ["users.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_sessions_host_start", "scheduled_sessions", ["host_id", "starts_at"])
    op.create_index("ix_sessions_mentee_start", "scheduled_sessions", ["mentee_id", "starts_at"])
    op.create_index("ix_sessions_room_start", "scheduled_sessions", ["room_id", "starts_at"])
    op.create_index("ix_sessions_status_start", "scheduled_sessions", ["status", "starts_at"])

    op.create_table(
        "session_claims",
        sa.Column("user_id", sa.String(length=32), nullable=False),
        sa.Column("block_start", UTC_TIME, nullable=False),
        sa.Column("session_id", sa.String(length=32), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["session_id"], ["scheduled_sessions.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("user_id", "block_start"),
    )
    op.create_index("ix_session_claims_session", "session_claims", ["session_id"])

    op.create_table(
        "session_attendance",
        sa.Column("session_id", sa.String(length=32), nullable=False),
        sa.Column("user_id", sa.String(length=32), nullable=False),
        sa.Column("joined_at", UTC_TIME, nullable=False),
        sa.ForeignKeyConstraint(["session_id"], ["scheduled_sessions.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("session_id", "user_id"),
    )

    op.create_table(
        "session_reminders",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("session_id", sa.String(length=32), nullable=False),
        sa.Column("offset_seconds", sa.Integer(), nullable=False),
        sa.Column("due_at", UTC_TIME, nullable=False),
        sa.Column("sent_at", UTC_TIME, nullable=True),
        sa.ForeignKeyConstraint(["session_id"], ["scheduled_sessions.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("session_id", "offset_seconds", name="uq_session_reminders_offset"),
    )
    op.create_index("ix_session_reminders_due", "session_reminders", ["sent_at", "due_at"])

    op.create_table(
        "calendar_feeds",
        sa.Column("user_id", sa.String(length=32), nullable=False),
        sa.Column("secret", sa.String(length=64), nullable=False),
        sa.Column("created_at", UTC_TIME, nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("user_id"),
        sa.UniqueConstraint("secret"),
    )

    op.create_table(
        "matching_profiles",
        sa.Column("user_id", sa.String(length=32), nullable=False),
        sa.Column("topics", sa.JSON(), nullable=False),
        sa.Column("updated_at", UTC_TIME, nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("user_id"),
    )

    op.create_table(
        "reward_outbox",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("idempotency_key", sa.String(length=128), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("user_id", sa.String(length=32), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.Column("created_at", UTC_TIME, nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", UTC_TIME, nullable=False),
        sa.Column("delivered_at", UTC_TIME, nullable=True),
        sa.Column("last_error", sa.String(length=500), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("idempotency_key"),
    )
    op.create_index("ix_reward_outbox_due", "reward_outbox", ["delivered_at", "next_attempt_at"])

    op.create_table(
        "reward_ledger",
        sa.Column("idempotency_key", sa.String(length=128), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("user_id", sa.String(length=32), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.Column("occurred_at", UTC_TIME, nullable=False),
        sa.Column("recorded_at", UTC_TIME, nullable=False),
        sa.PrimaryKeyConstraint("idempotency_key"),
    )
    op.create_index("ix_reward_ledger_user", "reward_ledger", ["user_id"])


def downgrade() -> None:
    op.drop_index("ix_reward_ledger_user", table_name="reward_ledger")
    op.drop_table("reward_ledger")
    op.drop_index("ix_reward_outbox_due", table_name="reward_outbox")
    op.drop_table("reward_outbox")
    op.drop_table("matching_profiles")
    op.drop_table("calendar_feeds")
    op.drop_index("ix_session_reminders_due", table_name="session_reminders")
    op.drop_table("session_reminders")
    op.drop_table("session_attendance")
    op.drop_index("ix_session_claims_session", table_name="session_claims")
    op.drop_table("session_claims")
    for name in ("ix_sessions_status_start", "ix_sessions_room_start", "ix_sessions_mentee_start", "ix_sessions_host_start"):
        op.drop_index(name, table_name="scheduled_sessions")
    op.drop_table("scheduled_sessions")
    op.drop_index("ix_availability_user", table_name="availability_windows")
    op.drop_table("availability_windows")
