"""Acknowledgement codes of the cloud SMS channels (/s/{code}) and the numbers an SMS is settled for

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-02 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
AT = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "ack_codes",
        sa.Column("code", sa.String(length=16), nullable=False),
        sa.Column("notification_id", BIG_ID, nullable=False),
        sa.Column("recipient", sa.Integer(), nullable=False),
        sa.Column("token", sa.String(length=1000), nullable=False),
        sa.Column("expires_at", AT, nullable=False),
        sa.Column("created_at", AT, nullable=False),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_ack_codes")),
        sa.UniqueConstraint(
            "notification_id", "recipient", name=op.f("uq_ack_codes_notification_id_recipient")
        ),
    )
    op.create_table(
        "sms_settled",
        sa.Column("notification_id", BIG_ID, nullable=False),
        sa.Column("mobile", sa.String(length=16), nullable=False),
        sa.Column("outcome", sa.String(length=200), nullable=False),
        sa.Column("at", AT, nullable=False),
        sa.PrimaryKeyConstraint("notification_id", "mobile", name=op.f("pk_sms_settled")),
    )


def downgrade() -> None:
    op.drop_table("sms_settled")
    op.drop_table("ack_codes")
