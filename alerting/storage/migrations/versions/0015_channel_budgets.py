"""Channels' rate budgets shared by replicas (`channel_slots`) and digests (`notifications.digest_key`)

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-01 21:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "channel_slots",
        sa.Column("channel", sa.String(length=64), nullable=False),
        sa.Column("rule", sa.String(length=24), nullable=False),
        sa.Column("slot", sa.Integer(), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("channel", "rule", "slot", name=op.f("pk_channel_slots")),
    )
    with op.batch_alter_table("notifications") as batch:
        batch.add_column(sa.Column("digest_key", sa.String(length=80), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("notifications") as batch:
        batch.drop_column("digest_key")
    op.drop_table("channel_slots")
