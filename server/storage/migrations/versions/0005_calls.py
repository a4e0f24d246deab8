"""calls and their participants (signaling)

Revision ID: 0005_calls
Revises: 0001
"""
import sqlalchemy as sa
from alembic import op

revision = "0005_calls"
down_revision = "0001"
branch_labels = ("calls",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "calls",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("room_id", sa.String(32), sa.ForeignKey("rooms.id", ondelete="CASCADE"), nullable=False),
        sa.Column("active_room_id", sa.String(32), nullable=True, unique=True),
        sa.Column("mode", sa.String(8), nullable=False),
        sa.Column("media", sa.String(8), nullable=False),
        sa.Column("state", sa.String(10), nullable=False),
        sa.Column("started_by", sa.String(32), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("end_reason", sa.String(20), nullable=False),
    )
    op.create_index("ix_calls_state", "calls", ["state"])
    op.create_table(
        "call_participants",
        sa.Column("call_id", sa.String(32), sa.ForeignKey("calls.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("user_id", sa.String(32), primary_key=True),
        sa.Column("state", sa.String(10), nullable=False),
        sa.Column("sid", sa.String(64), nullable=True),
        sa.Column("polite", sa.Boolean(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_call_participants_sid", "call_participants", ["sid"])


def downgrade() -> None:
    op.drop_table("call_participants")
    op.drop_table("calls")
