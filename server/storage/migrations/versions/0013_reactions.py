"""emoji reactions on messages (sealed like bodies) and replies (a message's reply_to)

Revision ID: 0013_reactions
Revises: 0012_private_rooms
"""
import sqlalchemy as sa
from alembic import op

revision = "0013_reactions"
down_revision = "0012_private_rooms"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("messages", sa.Column("reply_to", sa.String(32), nullable=True))
    op.create_table(
        "message_reactions",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("room_id", sa.String(32), sa.ForeignKey("rooms.id", ondelete="CASCADE"), nullable=False),
        sa.Column("message_id", sa.String(32), sa.ForeignKey("messages.id", ondelete="CASCADE"), nullable=False),
        sa.Column("user_id", sa.String(32), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
        sa.Column("tag", sa.String(64), nullable=False),
        sa.Column("nonce", sa.LargeBinary(), nullable=False),
        sa.Column("ciphertext", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("message_id", "user_id", "tag", name="uq_message_reactions_once"),
    )
    op.create_index("ix_message_reactions_room", "message_reactions", ["room_id"])


def downgrade() -> None:
    op.drop_index("ix_message_reactions_room", table_name="message_reactions")
    op.drop_table("message_reactions")
    with op.batch_alter_table("messages") as batch:
        batch.drop_column("reply_to")
