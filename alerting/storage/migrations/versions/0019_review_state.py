"""Each reviewed entry's latest review and its decision, kept by the database as reviews are appended

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-02 14:00:00

An entry's status (pending, confirmed, waived) and finding come from its latest review. Found by a
probe of the reviews index per entry, a year's counts at ten million entries joined every entry of
the year to its reviews and took seconds; this table has one row per reviewed entry in entry order,
so counts merge it with the year's entries and a page joins it by primary key. A trigger keeps it,
whatever writes the log (PostgreSQL: once per statement, as the schema owner, so the service's role
may only read it; SQLite: per row); it is filled from the log here. Derived: nothing in it is
evidence, and it may be rebuilt from the log. It must never refuse an append: a review entry without
a decision sets no status and is passed over, and the columns take text of any length.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = "accountability_review_state"

# The latest review of each entry a statement reviewed (a statement may hold two reviews of one).
_PG_LATEST = """
SELECT DISTINCT ON (refers_to) refers_to, id, details->>'decision', details->>'to' FROM {source}
WHERE kind = 'review' AND refers_to IS NOT NULL AND details->>'decision' IS NOT NULL
ORDER BY refers_to, id DESC
"""
_UPSERT = f"""
ON CONFLICT (entry_id) DO UPDATE
  SET review_id = excluded.review_id, decision = excluded.decision, finding = excluded.finding
  WHERE excluded.review_id > {TABLE}.review_id
"""
_PG_FUNCTION = f"""
CREATE FUNCTION alerting_review_state() RETURNS trigger LANGUAGE plpgsql
SECURITY DEFINER SET search_path FROM CURRENT AS $fn$
BEGIN
  INSERT INTO {TABLE} (entry_id, review_id, decision, finding)
  {_PG_LATEST.format(source="appended")}
  {_UPSERT};
  RETURN NULL;
END
$fn$
"""
_PG_TRIGGER = (
    "CREATE TRIGGER accountability_entries_review_state AFTER INSERT ON accountability_entries "
    "REFERENCING NEW TABLE AS appended FOR EACH STATEMENT EXECUTE FUNCTION alerting_review_state()"
)
_SQLITE_TRIGGER = f"""
CREATE TRIGGER accountability_entries_review_state AFTER INSERT ON accountability_entries
WHEN NEW.kind = 'review' AND NEW.refers_to IS NOT NULL
  AND json_extract(NEW.details, '$.decision') IS NOT NULL BEGIN
  INSERT INTO {TABLE} (entry_id, review_id, decision, finding)
  VALUES (NEW.refers_to, NEW.id, json_extract(NEW.details, '$.decision'), json_extract(NEW.details, '$.to'))
  {_UPSERT};
END
"""
_SQLITE_FILL = f"""
INSERT INTO {TABLE} (entry_id, review_id, decision, finding)
SELECT r.refers_to, r.id, json_extract(r.details, '$.decision'), json_extract(r.details, '$.to')
FROM accountability_entries AS r
WHERE r.kind = 'review' AND r.refers_to IS NOT NULL AND json_extract(r.details, '$.decision') IS NOT NULL
AND r.id = (
  SELECT max(l.id) FROM accountability_entries AS l
  WHERE l.kind = 'review' AND l.refers_to = r.refers_to AND json_extract(l.details, '$.decision') IS NOT NULL
)
"""


def upgrade() -> None:
    op.create_table(
        TABLE,
        sa.Column("entry_id", sa.BigInteger(), nullable=False),
        sa.Column("review_id", sa.BigInteger(), nullable=False),
        sa.Column("decision", sa.Text(), nullable=False),
        sa.Column("finding", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("entry_id", name=op.f(f"pk_{TABLE}")),
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_PG_FUNCTION)
        op.execute(_PG_TRIGGER)
        op.execute(
            f"INSERT INTO {TABLE} (entry_id, review_id, decision, finding) "
            + _PG_LATEST.format(source="accountability_entries")
        )
    else:
        op.execute(_SQLITE_TRIGGER)
        op.execute(_SQLITE_FILL)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS accountability_entries_review_state ON accountability_entries")
        op.execute("DROP FUNCTION IF EXISTS alerting_review_state()")
    else:
        op.execute("DROP TRIGGER IF EXISTS accountability_entries_review_state")
    op.drop_table(TABLE)
