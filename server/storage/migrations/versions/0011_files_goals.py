"""files shared in rooms, pinned resources, shared goals and their check-ins

Revision ID: 0011_files_goals
Revises: 0008_crisis_outreach
"""
import sqlalchemy as sa
from alembic import op

revision = "0011_files_goals"
down_revision = "0008_crisis_outreach"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "room_files",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("room_id", sa.String(32), sa.ForeignKey("rooms.id", ondelete="CASCADE"), nullable=False),
        sa.Column("uploader_id", sa.String(32), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
        sa.Column("client_id", sa.String(64), nullable=False),
        sa.Column("media_type", sa.String(100), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("name_nonce", sa.LargeBinary(), nullable=False),
        sa.Column("name_ciphertext", sa.LargeBinary(), nullable=False),
        sa.Column("width", sa.Integer(), nullable=True),
        sa.Column("height", sa.Integer(), nullable=True),
        sa.Column("thumbnail_nonce", sa.LargeBinary(), nullable=True),
        sa.Column("thumbnail_ciphertext", sa.LargeBinary(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_room_files_room", "room_files", ["room_id"])
    op.create_index("ix_room_files_uploader", "room_files", ["uploader_id"])
    op.create_table(
        "room_resources",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("room_id", sa.String(32), sa.ForeignKey("rooms.id", ondelete="CASCADE"), nullable=False),
        sa.Column("pinned_by", sa.String(32), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
        sa.Column("file_id", sa.String(32), sa.ForeignKey("room_files.id", ondelete="CASCADE"), nullable=True),
        sa.Column("nonce", sa.LargeBinary(), nullable=False),
        sa.Column("ciphertext", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_room_resources_room", "room_resources", ["room_id"])
    op.create_table(
        "goals",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("room_id", sa.String(32), sa.ForeignKey("rooms.id", ondelete="CASCADE"), nullable=False),
        sa.Column("mentee_id", sa.String(32), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("proposed_by", sa.String(32), nullable=False),
        sa.Column("nonce", sa.LargeBinary(), nullable=False),
        sa.Column("ciphertext", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("agreed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_goals_room", "goals", ["room_id"])
    op.create_index("ix_goals_mentee", "goals", ["mentee_id"])
    op.create_table(
        "goal_check_ins",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("goal_id", sa.String(32), sa.ForeignKey("goals.id", ondelete="CASCADE"), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("nonce", sa.LargeBinary(), nullable=False),
        sa.Column("ciphertext", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("goal_id", "day", name="uq_goal_check_ins_day"),
    )


def downgrade() -> None:
    op.drop_table("goal_check_ins")
    op.drop_index("ix_goals_mentee", "goals")
    op.drop_index("ix_goals_room", "goals")
    op.drop_table("goals")
    op.drop_index("ix_room_resources_room", "room_resources")
    op.drop_table("room_resources")
    op.drop_index("ix_room_files_uploader", "room_files")
    op.drop_index("ix_room_files_room", "room_files")
    op.drop_table("room_files")
