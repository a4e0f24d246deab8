"""private rooms: end-to-end sealed messages, member devices and key shares

Revision ID: 0012_private_rooms
Revises: 0011_files_goals
"""
import sqlalchemy as sa
from alembic import op

revision = "0012_private_rooms"
down_revision = "0011_files_goals"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("rooms", sa.Column("private", sa.Boolean(), nullable=False, server_default=sa.false()))
    op.add_column("messages", sa.Column("sealed", sa.JSON(), nullable=True))
    op.create_table(
        "devices",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("user_id", sa.String(32), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
        sa.Column("identity_key", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("user_id", "identity_key", name="uq_devices_user_key"),
    )
    op.create_index("ix_devices_user", "devices", ["user_id"])
    op.create_table(
        "key_shares",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("room_id", sa.String(32), sa.ForeignKey("rooms.id", ondelete="CASCADE"), nullable=False),
        sa.Column("target_device_id", sa.String(32), sa.ForeignKey("devices.id", ondelete="CASCADE"), nullable=False),
        sa.Column("sender_id", sa.String(32), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
        sa.Column("sender_device_id", sa.String(32), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_key_shares_target", "key_shares", ["target_device_id"])


def downgrade() -> None:
    op.drop_index("ix_key_shares_target", "key_shares")
    op.drop_table("key_shares")
    op.drop_index("ix_devices_user", "devices")
    op.drop_table("devices")
    op.drop_column("messages", "sealed")
    op.drop_column("rooms", "private")
