"""PostgreSQL: the references of the bulk-written tables checked once per statement, not per row

A foreign key checks each inserted row with its own lookup of the parent row. Intake writes seven
rows per report and a burst of firing twenty thousand escalations and notifications, and those
lookups were a third of intake's database time. These triggers check a whole statement's rows with
one join against the parent's primary key and refuse the statement with the same error
(foreign_key_violation). A change of the reference column is checked row by row; the application
never makes one. What the foreign keys also did, refusing to delete a parent that has children, is
left: nothing deletes incidents, deadlines or escalations. SQLite keeps its foreign keys.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-27 05:10:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (table, column, parent table, parent column); the foreign key's name follows the naming convention.
REFERENCES = [
    ("reports", "incident_id", "incidents", "id"),
    ("deadlines", "incident_id", "incidents", "id"),
    ("escalations", "deadline_id", "deadlines", "id"),
    ("escalations", "incident_id", "incidents", "id"),
    ("notifications", "escalation_id", "escalations", "id"),
    ("notifications", "incident_id", "incidents", "id"),
]

# TG_ARGV: column, parent table, parent column. The LATERAL ... LIMIT 1 keeps the plan a loop of
# primary-key probes: a hash anti-join would read the whole parent table for every statement.
_STATEMENT_CHECK = """
CREATE FUNCTION alerting_refuse_orphans() RETURNS trigger LANGUAGE plpgsql AS $fn$
DECLARE
  missing text;
BEGIN
  EXECUTE format(
    'SELECT n.%1$I::text FROM inserted n '
    'LEFT JOIN LATERAL (SELECT 1 AS found FROM %2$I p WHERE p.%3$I = n.%1$I LIMIT 1) p ON true '
    'WHERE n.%1$I IS NOT NULL AND p.found IS NULL LIMIT 1',
    TG_ARGV[0], TG_ARGV[1], TG_ARGV[2]) INTO missing;
  IF missing IS NOT NULL THEN
    RAISE EXCEPTION 'insert on table "%" violates the reference to table "%"', TG_TABLE_NAME, TG_ARGV[1]
      USING ERRCODE = 'foreign_key_violation',
            DETAIL = format('Key (%s)=(%s) is not present in table "%s".', TG_ARGV[0], missing, TG_ARGV[1]);
  END IF;
  RETURN NULL;
END
$fn$
"""

_ROW_CHECK = """
CREATE FUNCTION alerting_refuse_orphan() RETURNS trigger LANGUAGE plpgsql AS $fn$
DECLARE
  present boolean;
BEGIN
  EXECUTE format('SELECT $1.%1$I IS NULL OR EXISTS (SELECT FROM %2$I p WHERE p.%3$I = $1.%1$I)',
                 TG_ARGV[0], TG_ARGV[1], TG_ARGV[2]) INTO present USING NEW;
  IF NOT present THEN
    RAISE EXCEPTION 'update on table "%" violates the reference to table "%"', TG_TABLE_NAME, TG_ARGV[1]
      USING ERRCODE = 'foreign_key_violation',
            DETAIL = format('Key (%s)=(%s) is not present in table "%s".',
                            TG_ARGV[0], to_jsonb(NEW) ->> TG_ARGV[0], TG_ARGV[1]);
  END IF;
  RETURN NULL;
END
$fn$
"""


def upgrade() -> None:
    if op.get_context().dialect.name != "postgresql":
        return
    op.execute(_STATEMENT_CHECK)
    op.execute(_ROW_CHECK)
    for table, column, parent, key in REFERENCES:
        op.drop_constraint(f"fk_{table}_{column}_{parent}", table, type_="foreignkey")
        arguments = f"'{column}', '{parent}', '{key}'"
        op.execute(
            f"CREATE TRIGGER {table}_{column}_inserted AFTER INSERT ON {table} "
            "REFERENCING NEW TABLE AS inserted FOR EACH STATEMENT "
            f"EXECUTE FUNCTION alerting_refuse_orphans({arguments})"
        )
        op.execute(
            f"CREATE TRIGGER {table}_{column}_changed AFTER UPDATE OF {column} ON {table} "
            f"FOR EACH ROW WHEN (NEW.{column} IS DISTINCT FROM OLD.{column}) "
            f"EXECUTE FUNCTION alerting_refuse_orphan({arguments})"
        )


def downgrade() -> None:
    if op.get_context().dialect.name != "postgresql":
        return
    for table, column, parent, key in REFERENCES:
        op.execute(f"DROP TRIGGER {table}_{column}_changed ON {table}")
        op.execute(f"DROP TRIGGER {table}_{column}_inserted ON {table}")
        op.create_foreign_key(f"fk_{table}_{column}_{parent}", table, parent, [column], [key])
    op.execute("DROP FUNCTION alerting_refuse_orphan()")
    op.execute("DROP FUNCTION alerting_refuse_orphans()")
