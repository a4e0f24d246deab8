"""groups: pending invitations and join requests

Revision ID: 0002_groups
Revises: 0001
"""
import sqlalchemy as sa
from alembic import op

revision = "0002_groups"
down_revision = "0001"
branch_labels = ("groups",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "group_invitations",
        sa.Column("room_id", sa.String(length=32), nullable=False),
        sa.Column("user_id", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("actor_id", sa.String(length=32), nullable=False),
        sa.Column("note", sa.String(length=500), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["room_id"], ["rooms.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("room_id", "user_id"),
    )
    with op.batch_alter_table("group_invitations", schema=None) as batch_op:
        batch_op.create_index("ix_group_invitations_user", ["user_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("group_invitations", schema=None) as batch_op:
        batch_op.drop_index("ix_group_invitations_user")
    op.drop_table("group_invitations")
