"""PostgreSQL: the (township, kind, period) key of duty rows as a partial unique index

Incident deadlines have no period; their (township, kind, NULL) keys never conflict, yet every
intake COPY added them to the constraint's index, a quarter of the COPY's cost per row. SQLite keeps
its table constraint: dropping it would mean rebuilding the table.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27 03:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_context().dialect.name != "postgresql":
        return
    op.create_index(
        "ux_deadlines_duty_period",
        "deadlines",
        ["township", "kind", "period"],
        unique=True,
        postgresql_where=sa.text("period IS NOT NULL"),
    )
    op.drop_constraint("uq_deadlines_township_kind_period", "deadlines", type_="unique")


def downgrade() -> None:
    if op.get_context().dialect.name != "postgresql":
        return
    op.create_unique_constraint(
        "uq_deadlines_township_kind_period", "deadlines", ["township", "kind", "period"]
    )
    op.drop_index("ux_deadlines_duty_period", table_name="deadlines")
