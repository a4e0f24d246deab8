"""crisis alerts with their escalation timers, and the responders on call

Revision ID: 0004_crisis
Revises: 0001
"""
import sqlalchemy as sa
from alembic import op

revision = "0004_crisis"
down_revision = "0001"
branch_labels = ("crisis",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "crisis_alerts",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("room_id", sa.String(32), sa.ForeignKey("rooms.id", ondelete="CASCADE"), nullable=False),
        sa.Column("message_id", sa.String(32), nullable=False),
        sa.Column("message_seq", sa.Integer(), nullable=False),
        sa.Column("author_id", sa.String(32), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
        sa.Column("tier", sa.Integer(), nullable=False),
        sa.Column("excerpt_nonce", sa.LargeBinary(), nullable=True),
        sa.Column("excerpt_ciphertext", sa.LargeBinary(), nullable=True),
        sa.Column("detection", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("escalate_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("claimed_by", sa.String(32), sa.ForeignKey("users.id"), nullable=True),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resolved_by", sa.String(32), sa.ForeignKey("users.id"), nullable=True),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("note_nonce", sa.LargeBinary(), nullable=True),
        sa.Column("note_ciphertext", sa.LargeBinary(), nullable=True),
    )
    op.create_index("ix_crisis_alerts_due", "crisis_alerts", ["status", "escalate_at"])
    op.create_index("ix_crisis_alerts_room", "crisis_alerts", ["room_id"])
    op.create_table(
        "crisis_on_call",
        sa.Column("user_id", sa.String(32), sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("since", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("crisis_on_call")
    op.drop_index("ix_crisis_alerts_room", table_name="crisis_alerts")
    op.drop_index("ix_crisis_alerts_due", table_name="crisis_alerts")
    op.drop_table("crisis_alerts")
