"""PostgreSQL as production runs it, on the local test server: a schema owner and a service role,
both signing in with a password (they are members of alerting_password_auth, which
deploy/local/postgres.sh's pg_hba.conf sends to scram-sha-256), and a database the owner owns."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import asyncpg

from tests.conftest import PG_PORT, ROOT


@dataclass(frozen=True)
class Roles:
    database: str
    owner: str
    owner_password: str
    service: str
    service_password: str

    def url(self, role: str, host: str = "127.0.0.1") -> str:
        """A URL without the password: the password goes in ALERTING_*_PASSWORD, as in production."""
        return f"postgresql+asyncpg://{role}@{host}:{PG_PORT}/{self.database}"

    def owner_env(self) -> dict[str, str]:
        """`alerting migrate` as the owner, granting the service role."""
        return {
            "ALERTING_DATABASE_URL": self.url(self.service),
            "ALERTING_DATABASE_PASSWORD": self.service_password,
            "ALERTING_MIGRATION_DATABASE_URL": self.url(self.owner),
            "ALERTING_MIGRATION_DATABASE_PASSWORD": self.owner_password,
            "ALERTING_DATABASE_SERVICE_ROLE": self.service,
        }

    def service_env(self) -> dict[str, str]:
        """The service as its role, which may not migrate."""
        return {
            "ALERTING_DATABASE_URL": self.url(self.service),
            "ALERTING_DATABASE_PASSWORD": self.service_password,
            "ALERTING_MIGRATE_ON_START": "false",
        }

    async def connect(self, role: str, password: str, **extra: object) -> asyncpg.Connection:
        return await asyncpg.connect(
            host="127.0.0.1", port=PG_PORT, user=role, password=password, database=self.database, **extra
        )

    def secrets(self) -> list[str]:
        return [self.owner_password, self.service_password]


@asynccontextmanager
async def owner_and_service_roles(admin_dsn: str) -> AsyncIterator[Roles]:
    tag = uuid.uuid4().hex[:8]
    roles = Roles(
        database=f"lp_{tag}",
        owner=f"lp_owner_{tag}",
        owner_password=secrets.token_urlsafe(18),
        service=f"lp_service_{tag}",
        service_password=secrets.token_urlsafe(18),
    )
    admin = await asyncpg.connect(admin_dsn)
    try:
        for role, password in ((roles.owner, roles.owner_password), (roles.service, roles.service_password)):
            await admin.execute(
                f"CREATE ROLE {role} LOGIN PASSWORD '{password}' IN ROLE alerting_password_auth"
            )
        await admin.execute(f"CREATE DATABASE {roles.database} OWNER {roles.owner}")
        yield roles
    finally:
        await admin.execute(f"DROP DATABASE IF EXISTS {roles.database} WITH (FORCE)")
        await admin.execute(f"DROP ROLE IF EXISTS {roles.service}")
        await admin.execute(f"DROP ROLE IF EXISTS {roles.owner}")
        await admin.close()


def alerting(*args: str, env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """The command as an operator runs it; the example policy unless the caller names another."""
    full = {
        **os.environ,
        "ALERTING_POLICY": str(ROOT / "deploy/policy.example.toml"),
        "ALERTING_COUNTY_WEBHOOK_URL": "http://127.0.0.1:9/hook",
        **env,
    }
    return subprocess.run(
        [sys.executable, "-m", "alerting.app", *args],
        env=full,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        cwd=ROOT,
    )


def local_ca() -> Path:
    """The CA that signed the local server's certificate (`postgres.sh ca-path`)."""
    out = subprocess.run(
        [ROOT / "deploy/local/postgres.sh", "ca-path"],
        env={**os.environ, "PG_PORT": str(PG_PORT)},
        capture_output=True,
        text=True,
        check=True,
    )
    return Path(out.stdout.strip())
