"""Notices to townships with their reads (通报工作动态、报送要点) and inspections of the information
network (信息网络建设检查, 六有)

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "notices",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=24), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("to_all", sa.Boolean(), nullable=False),
        sa.Column("sent_by", sa.String(length=100), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notices")),
    )
    op.create_index(op.f("ix_notices_sent_at"), "notices", ["sent_at"])
    op.create_table(
        "notice_reads",
        sa.Column("notice_id", sa.String(length=64), nullable=False),
        sa.Column("township", sa.String(length=64), nullable=False),
        sa.Column("read_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("read_by", sa.String(length=100), nullable=True),
        sa.ForeignKeyConstraint(
            ["notice_id"], ["notices.id"], name=op.f("fk_notice_reads_notice_id_notices")
        ),
        sa.PrimaryKeyConstraint("notice_id", "township", name=op.f("pk_notice_reads")),
    )
    op.create_index(op.f("ix_notice_reads_township"), "notice_reads", ["township"])
    op.create_table(
        "inspections",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("township", sa.String(length=64), nullable=False),
        sa.Column("inspected_on", sa.Date(), nullable=False),
        sa.Column("inspectors", sa.JSON(), nullable=False),
        sa.Column("findings", sa.JSON(), nullable=False),
        sa.Column("met", sa.Integer(), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("recorded_by", sa.String(length=100), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inspections")),
    )
    op.create_index(op.f("ix_inspections_township_inspected_on"), "inspections", ["township", "inspected_on"])


def downgrade() -> None:
    op.drop_table("inspections")
    op.drop_table("notice_reads")
    op.drop_table("notices")
