"""What the service's PostgreSQL role may do (`alerting migrate` with ALERTING_DATABASE_SERVICE_ROLE):
read and write rows, append to the records, and nothing else. The schema owner runs the migrations;
the service's role owns nothing, so it cannot ALTER, DROP, TRUNCATE or drop the log's triggers.

Privileges are set table by table from the lists below at every `alerting migrate`, revoking first,
so a table a later version makes append-only loses UPDATE and DELETE, and a table a migration adds is
granted in the same run. No ALTER DEFAULT PRIVILEGES: a default would give a new table full write
access before its kind is known (a new record table would be writable), and it is state in the
database that nothing in the code shows."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import bindparam, text
from sqlalchemy.ext.asyncio import AsyncConnection

from alerting.errors import SettingsError
from alerting.storage.schema import metadata

# Records: a row says what happened or what was decided, and the service only ever inserts them.
# The first two have triggers too (migration 0002) that refuse UPDATE, DELETE and TRUNCATE even by
# their owner; for the rest the missing privilege is the guard. tests/unit/test_grants.py checks that
# no code updates or deletes them.
APPEND_ONLY = frozenset(
    {
        "accountability_entries",  # the hash-chained accountability log
        "bulletins",  # published quarterly bulletins and year-end rankings, frozen
        "operations",  # the operations log (操作日志) of every act through an account
        "reports",  # each report as the county received it; a correction is a new report
        "escalations",  # who was notified of which deadline, when
        "incident_events",  # an incident's timeline: registered, acknowledged, closed, forwarded
        "report_adoptions",  # adoption decisions (采用)
        "item_versions",  # each version of a routine item as submitted
        "item_events",  # what happened to a routine item
        "officer_changes",  # every registration (备案) in the officers' register
        "inspections",  # inspections of a township's information network (六有)
        "directory_changes",  # every change to who is who
        "posts",  # a post's holders: a change is a new row
        "feishu_ids",  # people's Feishu ids: a change is a new row
    }
)
READ_ONLY = frozenset(
    {
        "alembic_version",  # the service checks the head, the owner stamps it
        # Each day's entry ids, which bound a period's queries: written only by the log's trigger
        # (SECURITY DEFINER, migration 0018), so the service cannot hide entries from a period.
        "accountability_entry_days",
        "accountability_review_state",  # each entry's latest review: the same trigger-only writing
    }
)
READ_WRITE = ("SELECT", "INSERT", "UPDATE", "DELETE")
APPEND = ("SELECT", "INSERT")
# Where the service's role must end up without a privilege, however it might have it (PUBLIC, another
# role it belongs to): checked after granting.
_NEVER_ON_RECORDS = ("UPDATE", "DELETE", "TRUNCATE", "TRIGGER", "REFERENCES")
_NEVER_ON_TABLES = ("TRUNCATE", "TRIGGER", "REFERENCES")


@dataclass(frozen=True)
class Granted:
    role: str
    schema: str
    read_write: list[str]
    append_only: list[str]
    read_only: list[str]
    sequences: int

    def summary(self) -> str:
        return (
            f"已授权 / granted to {self.role} in schema {self.schema}: {len(self.read_write)} tables "
            f"{', '.join(READ_WRITE)}; {len(self.append_only)} append-only tables {', '.join(APPEND)} "
            f"({', '.join(self.append_only)}); {', '.join(self.read_only)} SELECT; "
            f"{self.sequences} sequences USAGE, SELECT"
        )


def privileges_for(table: str) -> tuple[str, ...]:
    """What the service's role gets on `table`: nothing on a table this version does not know."""
    if table in READ_ONLY:
        return ("SELECT",)
    if table in APPEND_ONLY:
        return APPEND
    if table in metadata.tables:
        return READ_WRITE
    return ()


async def grant_service_role(conn: AsyncConnection, role: str) -> Granted:
    """Give `role` exactly what the service needs in the current schema (inside the caller's
    transaction, as the schema owner). Idempotent; refuses a role that could do more anyway."""
    quote = conn.dialect.identifier_preparer.quote
    schema = (await conn.execute(text("SELECT current_schema()"))).scalar_one()
    await _refuse_powerful(conn, role, schema)
    who, where = quote(role), quote(schema)
    await conn.execute(text(f"REVOKE ALL ON SCHEMA {where} FROM {who}"))
    await conn.execute(text(f"GRANT USAGE ON SCHEMA {where} TO {who}"))
    if await _can_create(conn, role, schema):
        # PostgreSQL before 15 grants CREATE on the public schema to PUBLIC: take it back, as 15 does
        # by default (this takes effect only where the owner owns the schema; checked below).
        await conn.execute(text(f"REVOKE CREATE ON SCHEMA {where} FROM PUBLIC"))
    tables: list[str] = list(
        (
            await conn.execute(
                text(
                    "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                    "WHERE n.nspname = :schema AND c.relkind IN ('r', 'p') ORDER BY c.relname"
                ),
                {"schema": schema},
            )
        )
        .scalars()
        .all()
    )
    for table in tables:
        name = f"{where}.{quote(table)}"
        # PUBLIC too: a grant to everyone would reach the service's role; this version's tables have
        # none by design (other roles' own grants, e.g. a reporting role's SELECT, stay).
        await conn.execute(
            text(f"REVOKE ALL ON TABLE {name} FROM {who}{', PUBLIC' if privileges_for(table) else ''}")
        )
        if granted := privileges_for(table):
            await conn.execute(text(f"GRANT {', '.join(granted)} ON TABLE {name} TO {who}"))
    # nextval() for the id columns needs USAGE; setval() (UPDATE) is never called.
    await conn.execute(text(f"REVOKE ALL ON ALL SEQUENCES IN SCHEMA {where} FROM {who}"))
    await conn.execute(text(f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {where} TO {who}"))
    sequences = (
        await conn.execute(
            text(
                "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = :schema AND c.relkind = 'S'"
            ),
            {"schema": schema},
        )
    ).scalar_one()
    await _check_nothing_more(conn, role, schema, tables)
    return Granted(
        role=role,
        schema=schema,
        read_write=[t for t in tables if privileges_for(t) == READ_WRITE],
        append_only=[t for t in tables if t in APPEND_ONLY],
        read_only=[t for t in tables if t in READ_ONLY],
        sequences=sequences,
    )


async def _refuse_powerful(conn: AsyncConnection, role: str, schema: str) -> None:
    """A superuser, the owner itself, a member of the owner's role or an owner of anything in the
    schema would bypass every grant: refuse rather than pretend."""
    found = (
        await conn.execute(
            text(
                "SELECT r.rolsuper, r.rolname = current_user AS is_me, "
                "pg_has_role(r.rolname, current_user, 'MEMBER') AS acts_as_owner "
                "FROM pg_roles r WHERE r.rolname = :role"
            ),
            {"role": role},
        )
    ).one_or_none()
    name = f"ALERTING_DATABASE_SERVICE_ROLE ({role})"
    if found is None:
        raise SettingsError(
            f"{name}: 角色不存在 / no such role: create it first, e.g. CREATE ROLE {role} LOGIN PASSWORD '…'"
        )
    if found.rolsuper:
        raise SettingsError(
            f"{name}: 不能是超级用户 / must not be a superuser: a superuser bypasses every grant"
        )
    if found.is_me or found.acts_as_owner:
        raise SettingsError(
            f"{name}: 不能是结构所有者或其成员 / must not be the schema owner (the role of "
            "ALERTING_MIGRATION_DATABASE_URL) nor a member of it"
        )
    owned = (
        (
            await conn.execute(
                text(
                    "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                    "WHERE n.nspname = :schema "
                    "AND c.relowner = (SELECT oid FROM pg_roles WHERE rolname = :role) "
                    "UNION ALL SELECT 'schema ' || nspname FROM pg_namespace "
                    "WHERE nspname = :schema AND nspowner = (SELECT oid FROM pg_roles WHERE rolname = :role) "
                    "ORDER BY 1"
                ),
                {"schema": schema, "role": role},
            )
        )
        .scalars()
        .all()
    )
    if owned:
        raise SettingsError(
            f"{name}: 拥有数据库对象 / owns {', '.join(owned[:5])}{' …' if len(owned) > 5 else ''}: "
            "give them to the schema owner first (REASSIGN OWNED BY … TO …)"
        )


async def _check_nothing_more(conn: AsyncConnection, role: str, schema: str, tables: list[str]) -> None:
    """After granting: what the role can still do beyond its grants comes from PUBLIC or another
    role, which REVOKE above cannot reach; say what and where."""
    problems: list[str] = []
    if await _can_create(conn, role, schema):
        problems.append(
            f"CREATE on schema {schema} (its owner: REVOKE CREATE ON SCHEMA {schema} FROM PUBLIC)"
        )
    check = text(
        "SELECT t.name, p.priv FROM unnest(CAST(:tables AS text[])) AS t(name), "
        "unnest(CAST(:privs AS text[])) AS p(priv) "
        "WHERE has_table_privilege(:role, quote_ident(:schema) || '.' || quote_ident(t.name), p.priv)"
    ).bindparams(bindparam("tables"), bindparam("privs"))
    records = [t for t in tables if t in APPEND_ONLY or t in READ_ONLY]
    others = [t for t in tables if t not in records]
    for names, privs in ((records, _NEVER_ON_RECORDS), (others, _NEVER_ON_TABLES)):
        rows = await conn.execute(
            check, {"tables": names, "privs": list(privs), "role": role, "schema": schema}
        )
        problems += [f"{row.priv} on {row.name}" for row in rows]
    if problems:
        raise SettingsError(
            f"ALERTING_DATABASE_SERVICE_ROLE ({role}) 仍有多余权限（来自 PUBLIC 或其所属角色）/ still has, "
            f"through PUBLIC or a role it belongs to: {'; '.join(problems)}"
        )


async def _can_create(conn: AsyncConnection, role: str, schema: str) -> bool:
    query = text("SELECT has_schema_privilege(:role, :schema, 'CREATE')")
    return bool((await conn.execute(query, {"role": role, "schema": schema})).scalar_one())
