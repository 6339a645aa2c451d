"""The directory as data: duty shifts, posts and the log of their changes (seeded from the policy)

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-01 16:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "shifts",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("duty_officer", sa.String(length=50), nullable=False),
        sa.Column("duty_officer_phone", sa.String(length=40), nullable=False),
        sa.Column("leader_on_duty", sa.String(length=50), nullable=True),
        sa.Column("leader_phone", sa.String(length=40), nullable=True),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("change_id", BIG_ID, nullable=False),
        sa.Column("withdrawn_by", BIG_ID, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_shifts")),
    )
    op.create_index("ix_shifts_ends_at", "shifts", ["ends_at"])
    op.create_table(
        "posts",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("role", sa.String(length=32), nullable=False),
        sa.Column("township", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=50), nullable=True),
        sa.Column("phone", sa.String(length=40), nullable=True),
        sa.Column("change_id", BIG_ID, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_posts")),
    )
    op.create_index("ix_posts_role_township", "posts", ["role", "township", "id"])
    op.create_table(
        "directory_changes",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("action", sa.String(length=24), nullable=False),
        sa.Column("by", sa.String(length=100), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("note", sa.String(length=500), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_directory_changes")),
    )


def downgrade() -> None:
    op.drop_table("directory_changes")
    op.drop_table("posts")
    op.drop_table("shifts")
