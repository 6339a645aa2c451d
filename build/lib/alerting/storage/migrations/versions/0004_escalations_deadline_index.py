"""no separate escalations.deadline_id index

It duplicated the leading column of the (deadline_id, round) key, and every escalation written (ten
thousand in a burst) paid for both.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27 03:10:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_index("ix_escalations_deadline_id", table_name="escalations")


def downgrade() -> None:
    op.create_index("ix_escalations_deadline_id", "escalations", ["deadline_id"])
