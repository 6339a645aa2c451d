"""`alerting migrate` as the schema owner grants the service's role rows and nothing else: it appends to
the accountability log but cannot change it, drop its triggers, alter, truncate or create tables; and a
service that may not migrate refuses to start on a schema that is not at its head."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import asyncpg
import pytest
from alembic import command

from alerting.storage.connection import Database
from alerting.storage.engine import alembic_config
from alerting.storage.grants import APPEND_ONLY
from alerting.storage.revision import head_revision
from tests.pg_roles import Roles, alerting, owner_and_service_roles

pytestmark = pytest.mark.postgres

APPEND = (
    "INSERT INTO accountability_entries "
    "(kind, responsible, occurred_at, recorded_at, details, prev_hash, hash) "
    "VALUES ('review', '信息科', now(), now(), '{}', $1, $2) RETURNING id"
)
LOG_REFUSED = "permission denied for table accountability_entries"
NO_CREATE = "permission denied for schema public"
DAYS_REFUSED = "permission denied for table accountability_entry_days"
STATE_REFUSED = "permission denied for table accountability_review_state"
REFUSED = {
    "UPDATE accountability_entries SET responsible = 'x'": LOG_REFUSED,
    "DELETE FROM accountability_entries": LOG_REFUSED,
    "DROP TRIGGER accountability_entries_append_only ON accountability_entries": "must be owner",
    "ALTER TABLE accountability_entries DISABLE TRIGGER accountability_entries_append_only": "must be owner",
    "TRUNCATE accountability_entries": LOG_REFUSED,
    "UPDATE bulletins SET period = 'x'": "permission denied for table bulletins",
    "DELETE FROM reports": "permission denied for table reports",
    "ALTER TABLE incidents ADD COLUMN extra integer": "must be owner of table incidents",
    "TRUNCATE incidents": "permission denied for table incidents",
    "DROP TABLE incidents": "must be owner of table incidents",
    "CREATE TABLE planted (x integer)": NO_CREATE,
    "CREATE FUNCTION planted() RETURNS integer LANGUAGE sql AS 'SELECT 1'": NO_CREATE,
    "UPDATE alembic_version SET version_num = '0001'": "permission denied for table alembic_version",
    # The days that bound a period's queries: only the log's trigger writes them.
    "UPDATE accountability_entry_days SET last_id = 0": DAYS_REFUSED,
    "DELETE FROM accountability_entry_days": DAYS_REFUSED,
    "UPDATE accountability_review_state SET decision = 'waive'": STATE_REFUSED,
}


@pytest.fixture
async def roles(postgres_admin_dsn: str) -> AsyncIterator[Roles]:
    async with owner_and_service_roles(postgres_admin_dsn) as made:
        yield made


def _migrated(roles: Roles) -> str:
    done = alerting("migrate", env=roles.owner_env())
    assert done.returncode == 0, done.stderr
    for secret in roles.secrets():
        assert secret not in done.stdout + done.stderr
    return done.stdout


async def test_the_service_role_appends_to_the_log_and_cannot_change_it_or_the_schema(roles: Roles) -> None:
    out = _migrated(roles)
    assert f"the schema is at revision {head_revision()}" in out
    assert f"granted to {roles.service} in schema public" in out
    service = await roles.connect(roles.service, roles.service_password)
    try:
        assert await service.fetchval(APPEND, "0" * 64, "a" * 64) == 1
        days = await service.fetch(
            "SELECT day = (now() AT TIME ZONE 'UTC')::date, first_id, last_id FROM accountability_entry_days"
        )
        assert [tuple(d) for d in days] == [(True, 1, 1)]  # kept by the trigger, as the schema owner
        await service.execute("INSERT INTO service_keys (name, value) VALUES ('k', 'v')")
        assert await service.execute("UPDATE service_keys SET value = 'w'") == "UPDATE 1"  # an ordinary table
        assert await service.fetchval("SELECT version_num FROM alembic_version") == head_revision()
        for statement, message in REFUSED.items():
            with pytest.raises(asyncpg.InsufficientPrivilegeError) as refused:
                await service.execute(statement)
            assert refused.value.sqlstate == "42501", statement
            assert message in str(refused.value), (statement, str(refused.value))
        assert await service.fetchval("SELECT count(*) FROM accountability_entries") == 1
        owns = await service.fetchval(
            "SELECT count(*) FROM pg_class WHERE relowner = "
            "(SELECT oid FROM pg_roles WHERE rolname = current_user)"
        )
        assert owns == 0
    finally:
        await service.close()


async def test_migrate_again_takes_back_what_a_record_must_not_have_and_grants_new_tables(
    roles: Roles,
) -> None:
    _migrated(roles)
    owner = await roles.connect(roles.owner, roles.owner_password)
    try:
        # Someone (or an older version) gave too much; a later migration adds a table.
        await owner.execute(
            f"GRANT UPDATE, DELETE, TRUNCATE ON accountability_entries, reports TO {roles.service}"
        )
        await owner.execute(f"GRANT ALL ON incidents TO {roles.service}")
        # PostgreSQL before 15 lets PUBLIC create in the public schema; a grant to PUBLIC reaches all.
        await owner.execute("GRANT CREATE ON SCHEMA public TO PUBLIC")
        await owner.execute("GRANT UPDATE ON bulletins TO PUBLIC")
        database = Database(roles.url(roles.owner), roles.owner_password)
        await asyncio.to_thread(command.downgrade, alembic_config(database), "0015")
        assert not await owner.fetchval("SELECT to_regclass('feishu_ids') IS NOT NULL")
        _migrated(roles)
        granted = await owner.fetch(
            "SELECT table_name, string_agg(privilege_type, ',' ORDER BY privilege_type) AS privileges "
            "FROM information_schema.role_table_grants WHERE grantee = $1 GROUP BY table_name",
            roles.service,
        )
        can = await owner.fetchrow(
            "SELECT has_schema_privilege($1, 'public', 'CREATE') AS creates, "
            "has_table_privilege($1, 'bulletins', 'UPDATE') AS updates_bulletins",
            roles.service,
        )
    finally:
        await owner.close()
    assert not can["creates"] and not can["updates_bulletins"]
    privileges = {row["table_name"]: row["privileges"] for row in granted}
    assert privileges["accountability_entries"] == "INSERT,SELECT"
    assert privileges["reports"] == "INSERT,SELECT"
    assert privileges["feishu_ids"] == "INSERT,SELECT"  # the table 0016 made again
    assert privileges["incidents"] == "DELETE,INSERT,SELECT,UPDATE"
    assert privileges["alembic_version"] == "SELECT"
    assert {t for t, p in privileges.items() if p == "INSERT,SELECT"} == APPEND_ONLY


@pytest.mark.parametrize("who", ["postgres", "owner"])
async def test_a_role_that_would_bypass_the_grants_is_refused(roles: Roles, who: str) -> None:
    role = roles.owner if who == "owner" else "postgres"
    refused = alerting("migrate", env={**roles.owner_env(), "ALERTING_DATABASE_SERVICE_ROLE": role})
    assert refused.returncode == 2
    reason = "must not be a superuser" if who == "postgres" else "must not be the schema owner"
    assert f"ALERTING_DATABASE_SERVICE_ROLE ({role})" in refused.stderr and reason in refused.stderr


async def test_behind_the_head_a_service_that_may_not_migrate_refuses_to_start(roles: Roles) -> None:
    _migrated(roles)
    database = Database(roles.url(roles.owner), roles.owner_password)
    await asyncio.to_thread(command.downgrade, alembic_config(database), "0015")
    head = head_revision()

    refused = alerting("run", env=roles.service_env(), timeout=60)
    assert refused.returncode == 2, refused.stderr
    assert (
        f"the database schema is at revision 0015 and this version of the service needs {head}"
        in refused.stderr
    )
    assert "run `alerting migrate` as the schema owner" in refused.stderr
    assert "数据库结构版本为 0015，本程序需要" in refused.stderr

    # Told to migrate at start, the role says plainly it may not.
    cannot = alerting("run", env={**roles.service_env(), "ALERTING_MIGRATE_ON_START": "true"}, timeout=60)
    assert cannot.returncode == 2, cannot.stderr
    assert f"the database role {roles.service} may not change the schema (permission denied)" in cannot.stderr
    assert "ALERTING_MIGRATE_ON_START=false" in cannot.stderr and "`alerting migrate`" in cannot.stderr
    for result in (refused, cannot):
        assert "Traceback" not in result.stderr
        assert roles.service_password not in result.stdout + result.stderr


async def test_a_wrong_password_is_named_by_its_setting_and_never_shown(roles: Roles) -> None:
    wrong = "Wrong-" + roles.service_password
    refused = alerting("token", "list", env={**roles.service_env(), "ALERTING_DATABASE_PASSWORD": wrong})
    assert refused.returncode == 2
    assert f"PostgreSQL refused the password of role {roles.service}: check ALERTING_DATABASE_PASSWORD" in (
        refused.stderr
    )
    assert wrong not in refused.stdout + refused.stderr and roles.service_password not in refused.stderr


async def test_a_privilege_the_role_inherits_from_another_role_stops_migrate(
    roles: Roles, postgres_admin_dsn: str
) -> None:
    _migrated(roles)
    helper = f"{roles.service}_helper"
    admin = await asyncpg.connect(postgres_admin_dsn, database=roles.database)
    try:
        await admin.execute(f"CREATE ROLE {helper} NOLOGIN")
        await admin.execute(f"GRANT UPDATE ON accountability_entries TO {helper}")
        await admin.execute(f"GRANT {helper} TO {roles.service}")
        refused = alerting("migrate", env=roles.owner_env())
    finally:
        await admin.execute(f"REVOKE ALL ON accountability_entries FROM {helper}")
        await admin.execute(f"DROP ROLE {helper}")
        await admin.close()
    assert refused.returncode == 2
    assert f"ALERTING_DATABASE_SERVICE_ROLE ({roles.service})" in refused.stderr
    assert "UPDATE on accountability_entries" in refused.stderr
