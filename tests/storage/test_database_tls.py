"""TLS to PostgreSQL with ALERTING_DATABASE_SSL_MODE=verify-full against the local server, whose
certificate deploy/local/postgres.sh signs with a CA of its own (SAN localhost, 127.0.0.1)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy import text

from alerting.errors import SettingsError
from alerting.settings import Settings
from alerting.storage.engine import create_engine
from alerting.storage.revision import current_revision, explained
from tests.conftest import PG_PORT
from tests.pg_roles import Roles, alerting, local_ca, owner_and_service_roles
from tests.tls_certs import make_ca

pytestmark = pytest.mark.postgres

SSL_OF_THIS_CONNECTION = "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()"


@pytest.fixture
def ca(postgres_admin_dsn: str) -> Path:
    return local_ca()


@pytest.fixture
async def roles(postgres_admin_dsn: str) -> AsyncIterator[Roles]:
    async with owner_and_service_roles(postgres_admin_dsn) as made:
        yield made


def _settings(monkeypatch: pytest.MonkeyPatch, url: str, **env: str) -> Settings:
    monkeypatch.setenv("ALERTING_DATABASE_URL", url)
    for name, value in env.items():
        monkeypatch.setenv(f"ALERTING_DATABASE_{name.upper()}", value)
    return Settings()


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
async def test_verify_full_connects_over_tls_to_each_name_the_certificate_lists(
    monkeypatch: pytest.MonkeyPatch, ca: Path, host: str
) -> None:
    url = f"postgresql+asyncpg://postgres@{host}:{PG_PORT}/postgres"
    settings = _settings(monkeypatch, url, ssl_mode="verify-full", ssl_root_cert=str(ca))
    engine = create_engine(settings.database())
    try:
        async with engine.connect() as conn:
            assert (await conn.execute(text(SSL_OF_THIS_CONNECTION))).scalar_one() is True
    finally:
        await engine.dispose()


async def test_require_encrypts_without_checking_and_disable_does_not(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    url = f"postgresql+asyncpg://postgres@127.0.0.1:{PG_PORT}/postgres"
    for env, encrypted in (({"ssl_mode": "require"}, True), ({"ssl_mode": "disable"}, False)):
        engine = create_engine(_settings(monkeypatch, url, **env).database())
        try:
            async with engine.connect() as conn:
                assert (await conn.execute(text(SSL_OF_THIS_CONNECTION))).scalar_one() is encrypted, env
        finally:
            await engine.dispose()


async def _first_contact(settings: Settings) -> None:
    """What every start does first: read the schema's revision, failures explained."""
    database = settings.database()
    engine = create_engine(database)
    try:
        with explained(database):
            await current_revision(engine)
    finally:
        await engine.dispose()


async def test_a_certificate_from_another_ca_is_refused_naming_the_root_cert_setting(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    stranger, _ = make_ca(tmp_path, "stranger CA")
    url = f"postgresql+asyncpg://postgres@127.0.0.1:{PG_PORT}/postgres"
    settings = _settings(monkeypatch, url, ssl_mode="verify-full", ssl_root_cert=str(stranger))
    with pytest.raises(SettingsError) as refused:
        await _first_contact(settings)
    message = str(refused.value)
    assert f"did not verify against ALERTING_DATABASE_SSL_ROOT_CERT ({stranger})" in message
    assert "certificate verify failed" in message or "unable to get local issuer" in message, message


async def test_verify_full_refuses_a_host_name_the_certificate_does_not_list(
    monkeypatch: pytest.MonkeyPatch, ca: Path
) -> None:
    # 127.1 is 127.0.0.1 to the resolver (inet_aton) but a name the certificate does not list.
    url = f"postgresql+asyncpg://postgres@127.1:{PG_PORT}/postgres"
    with pytest.raises(SettingsError) as refused:
        await _first_contact(_settings(monkeypatch, url, ssl_mode="verify-full", ssl_root_cert=str(ca)))
    assert "the database server's certificate is not valid for 127.1" in str(refused.value)
    assert "Hostname mismatch" in str(refused.value)
    # verify-ca checks the chain only: the same name is accepted.
    await _first_contact(_settings(monkeypatch, url, ssl_mode="verify-ca", ssl_root_cert=str(ca)))


async def test_a_role_the_server_admits_over_tls_only_runs_the_cli_with_verify_full(
    roles: Roles, ca: Path, postgres_admin_dsn: str
) -> None:
    admin = await asyncpg.connect(postgres_admin_dsn)
    try:
        await admin.execute(f"GRANT alerting_tls_only TO {roles.owner}, {roles.service}")
    finally:
        await admin.close()
    env = {**roles.owner_env(), "ALERTING_DATABASE_SSL_MODE": "disable"}
    refused = alerting("migrate", env=env)
    assert refused.returncode == 2
    assert "PostgreSQL refused the connection" in refused.stderr and "no encryption" in refused.stderr
    assert "ALERTING_DATABASE_SSL_MODE=verify-full" in refused.stderr

    tls = {"ALERTING_DATABASE_SSL_MODE": "verify-full", "ALERTING_DATABASE_SSL_ROOT_CERT": str(ca)}
    migrated = alerting("migrate", env={**roles.owner_env(), **tls})
    assert migrated.returncode == 0, migrated.stderr
    listed = alerting("token", "list", env={**roles.service_env(), **tls})
    assert listed.returncode == 0, listed.stderr
    for secret in roles.secrets():
        assert (
            secret not in refused.stderr + migrated.stdout + migrated.stderr + listed.stdout + listed.stderr
        )
    # Without TLS the server itself says no (pg_hba.conf: hostnossl … reject).
    with pytest.raises(asyncpg.InvalidAuthorizationSpecificationError) as plain:
        await roles.connect(roles.service, roles.service_password, ssl=False)
    assert plain.value.sqlstate == "28000"
