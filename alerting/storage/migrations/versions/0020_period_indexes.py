"""Deadlines by due time and reports by report time, for a bulletin's period

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-02 18:00:00

A bulletin counts the period's deadlines per township and the period's reports per township and
type. Without an index on the time alone, both read the whole table (at ten years of a province,
8.4 million deadlines and 3.3 million reports: 1.6 s whatever the period). On PostgreSQL the counted
columns ride along in the index (INCLUDE), so the counts are read from it alone.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEXES = {
    "ix_deadlines_due_at": ("deadlines", "due_at", ["kind", "township", "state", "met_at"]),
    "ix_reports_reported_at": ("reports", "reported_at", ["township", "type"]),
}


def upgrade() -> None:
    for name, (table, column, include) in INDEXES.items():
        op.create_index(name, table, [column], postgresql_include=include)


def downgrade() -> None:
    for name, (table, _column, _include) in INDEXES.items():
        op.drop_index(name, table_name=table)
