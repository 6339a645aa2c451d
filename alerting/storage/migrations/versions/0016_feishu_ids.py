"""People's Feishu ids (what a Feishu bot mentions), keyed by phone, with their history

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-02 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "feishu_ids",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("phone", sa.String(length=40), nullable=False),
        sa.Column("feishu_user_id", sa.String(length=64), nullable=True),
        sa.Column("change_id", BIG_ID, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_feishu_ids")),
    )
    op.create_index("ix_feishu_ids_phone", "feishu_ids", ["phone", "id"])


def downgrade() -> None:
    op.drop_table("feishu_ids")
