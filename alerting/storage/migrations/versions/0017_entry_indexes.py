"""Indexes for the auditors at ten years of a province: filters that page in id order, and the
latest review of an entry found by one index probe

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-02 12:00:00

The single-column indexes on kind, township and occurred_at are replaced by composite ones ending in
the id, so that a filtered page in id (or time) order is an index range read that stops after one
page, at any depth; a review is found from the entry it decides.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = "accountability_entries"
REVIEWS = sa.text("kind = 'review'")
REPLACED = {"township": ["township", "id"], "kind": ["kind", "id"], "occurred_at": ["occurred_at", "id"]}


def upgrade() -> None:
    for column, columns in REPLACED.items():
        op.drop_index(f"ix_{TABLE}_{column}", table_name=TABLE)
        op.create_index(f"ix_entries_{column}_id", TABLE, columns)
    op.create_index(
        "ix_entries_reviews", TABLE, ["refers_to", "id"], sqlite_where=REVIEWS, postgresql_where=REVIEWS
    )


def downgrade() -> None:
    op.drop_index("ix_entries_reviews", table_name=TABLE)
    for column in REPLACED:
        op.drop_index(f"ix_entries_{column}_id", table_name=TABLE)
        op.create_index(f"ix_{TABLE}_{column}", TABLE, [column])
