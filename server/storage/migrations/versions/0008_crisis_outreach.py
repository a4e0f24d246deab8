"""crisis outreach: an alert's outcome, crisis conversation and first contact; safety plans

Revision ID: 0008_crisis_outreach
Revises: 0007_at_rest
"""
import sqlalchemy as sa
from alembic import op

revision = "0008_crisis_outreach"
down_revision = "0007_at_rest"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("crisis_alerts") as batch:
        batch.add_column(sa.Column("outcome", sa.String(24), nullable=True))
        batch.add_column(sa.Column("crisis_room_id", sa.String(32), nullable=True))
        batch.add_column(sa.Column("contact_at", sa.DateTime(timezone=True), nullable=True))
    op.create_table(
        "crisis_safety_plans",
        sa.Column("user_id", sa.String(32), sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("wrapped_key", sa.LargeBinary(), nullable=False),
        sa.Column("nonce", sa.LargeBinary(), nullable=False),
        sa.Column("ciphertext", sa.LargeBinary(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("crisis_safety_plans")
    with op.batch_alter_table("crisis_alerts") as batch:
        batch.drop_column("contact_at")
        batch.drop_column("crisis_room_id")
        batch.drop_column("outcome")
