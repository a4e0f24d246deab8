"""messages.safety: a message that was not scanned for crisis, or whose scan failed, says so

Revision ID: 0006_message_safety
Revises: 0004_crisis
"""
import sqlalchemy as sa
from alembic import op

revision = "0006_message_safety"
down_revision = "0004_crisis"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("messages") as batch:
        batch.add_column(sa.Column("safety", sa.String(16), nullable=True))
    op.create_index("ix_messages_safety", "messages", ["safety"])


def downgrade() -> None:
    op.drop_index("ix_messages_safety", table_name="messages")
    with op.batch_alter_table("messages") as batch:
        batch.drop_column("safety")
