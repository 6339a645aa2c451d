"""lean deadline indexes: partial fire_at and duty indexes, no separate incident_id index

Every deadline insert paid for six indexes. The incident_id index duplicated the leading column of
the (incident_id, kind, seq) key; the fire_at and (township, kind, state) indexes now hold only the
rows their queries read (pending rows, duty rows).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27 00:05:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FIRE_AT_SET = sa.text("fire_at IS NOT NULL")
DUTY = sa.text("incident_id IS NULL")


def upgrade() -> None:
    op.drop_index("ix_deadlines_incident_id", table_name="deadlines")
    op.drop_index("ix_deadlines_fire_at", table_name="deadlines")
    op.create_index(
        "ix_deadlines_fire_at",
        "deadlines",
        ["fire_at"],
        sqlite_where=FIRE_AT_SET,
        postgresql_where=FIRE_AT_SET,
    )
    op.drop_index("ix_deadlines_township_kind_state", table_name="deadlines")
    op.create_index(
        "ix_deadlines_duties",
        "deadlines",
        ["township", "kind", "state"],
        sqlite_where=DUTY,
        postgresql_where=DUTY,
    )


def downgrade() -> None:
    op.drop_index("ix_deadlines_duties", table_name="deadlines")
    op.create_index("ix_deadlines_township_kind_state", "deadlines", ["township", "kind", "state"])
    op.drop_index("ix_deadlines_fire_at", table_name="deadlines")
    op.create_index("ix_deadlines_fire_at", "deadlines", ["fire_at"])
    op.create_index("ix_deadlines_incident_id", "deadlines", ["incident_id"])
