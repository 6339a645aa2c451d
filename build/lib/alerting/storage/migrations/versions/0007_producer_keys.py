"""Signed producers: the keys the county issues, and each report's provenance

A report now records how the county knows who sent it and when: `signed` (by `producer_key`),
`unsigned` (stored with the broker's receipt time, the township as claimed), or `unrecorded` for the
reports stored before this revision.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 12:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "producer_keys",
        sa.Column("key_id", sa.String(length=64), nullable=False),
        sa.Column("holder", sa.String(length=100), nullable=False),
        sa.Column("township", sa.String(length=64), nullable=True),
        sa.Column("secret_encrypted", sa.String(length=200), nullable=False),
        sa.Column("fingerprint", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("key_id", name=op.f("pk_producer_keys")),
    )
    with op.batch_alter_table("reports") as batch:
        batch.add_column(
            sa.Column("provenance", sa.String(length=16), nullable=False, server_default="unrecorded")
        )
        batch.add_column(sa.Column("producer_key", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("reports") as batch:
        batch.drop_column("producer_key")
        batch.drop_column("provenance")
    op.drop_table("producer_keys")
