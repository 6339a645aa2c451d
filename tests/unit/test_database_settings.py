"""ALERTING_DATABASE_*: a password kept apart from the URL, TLS to PostgreSQL, the schema owner's URL
for `alerting migrate`; a combination that cannot work is refused at start, naming the setting."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest

from alerting.errors import SettingsError
from alerting.settings import Settings
from alerting.storage.connection import Database, DatabaseTls, explain, tls_context
from alerting.storage.engine import create_engine
from alerting.storage.revision import current_revision, explained
from tests.support import free_port
from tests.tls_certs import make_ca

PG = "postgresql+asyncpg://alerting@db.county.example:5432/alerting"


def _settings(monkeypatch: pytest.MonkeyPatch, **env: str) -> Settings:
    for name, value in env.items():
        monkeypatch.setenv(f"ALERTING_{name.upper()}", value)
    return Settings()


@pytest.fixture(scope="module")
def ca_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_ca(tmp_path_factory.mktemp("ca"), "unit CA")[0]


def test_the_password_apart_replaces_the_urls_and_is_never_shown(monkeypatch: pytest.MonkeyPatch) -> None:
    database = _settings(
        monkeypatch,
        database_url="postgresql+asyncpg://alerting:in-the-url@db.county.example/alerting",
        database_password="p@ss:w/rd",
    ).database()
    assert database.sqlalchemy_url().password == "p@ss:w/rd"
    for text in (database.shown(), repr(database), str(database.sqlalchemy_url())):
        assert "p@ss" not in text and "in-the-url" not in text, text


def test_the_migration_database_defaults_to_the_services(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = _settings(monkeypatch, database_url=PG, database_password="service-secret")
    owner = settings.migration_database()
    assert owner.sqlalchemy_url() == settings.database().sqlalchemy_url()
    settings = _settings(
        monkeypatch,
        migration_database_url="postgresql+asyncpg://owner@db.county.example/alerting",
        migration_database_password="owner-secret",
    )
    owner = settings.migration_database()
    assert owner.role() == "owner" and owner.sqlalchemy_url().password == "owner-secret"
    assert owner.password_setting == "ALERTING_MIGRATION_DATABASE_PASSWORD"


def test_empty_values_from_a_chart_or_an_env_file_mean_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = _settings(
        monkeypatch,
        database_password="",
        database_ssl_mode="",
        database_ssl_root_cert="",
        migrate_on_start="0",
    )
    assert settings.database() == Database(settings.database_url)
    assert settings.migrate_on_start is False


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"database_ssl_mode": "verify-full"}, "ALERTING_DATABASE_SSL_ROOT_CERT"),
        ({"database_ssl_mode": "verify-ca"}, "ALERTING_DATABASE_SSL_ROOT_CERT"),
        ({"database_ssl_mode": "prefer"}, "ALERTING_DATABASE_SSL_MODE='prefer'"),
        ({"database_ssl_root_cert": "/etc/ca.crt"}, "ALERTING_DATABASE_SSL_MODE"),
        ({"database_ssl_mode": "require", "database_ssl_root_cert": "/x"}, "would be ignored"),
        ({"database_ssl_mode": "verify-full", "database_ssl_root_cert": "/nonexistent/ca.crt"},
         "ALERTING_DATABASE_SSL_ROOT_CERT: 文件不存在 / no such file: /nonexistent/ca.crt"),
        ({"database_ssl_mode": "require", "database_ssl_key": "/k"}, "needs ALERTING_DATABASE_SSL_CERT"),
        ({"database_ssl_mode": "require", "database_url": PG + "?ssl=require"}, "keep only"),
    ],
)  # fmt: skip
def test_tls_settings_that_cannot_work_are_refused_naming_the_setting(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], named: str
) -> None:
    settings = _settings(monkeypatch, **{"database_url": PG, **env})
    with pytest.raises(SettingsError) as refused:
        settings.database()
    assert named in str(refused.value)


def test_a_file_that_is_no_certificate_is_refused_naming_the_setting(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / "ca.crt").write_text("not a certificate\n")
    settings = _settings(
        monkeypatch,
        database_url=PG,
        database_ssl_mode="verify-full",
        database_ssl_root_cert=str(tmp_path / "ca.crt"),
    )
    with pytest.raises(SettingsError, match=r"ALERTING_DATABASE_SSL_ROOT_CERT: .*not a usable PEM file"):
        settings.database()


@pytest.mark.parametrize("env", [{"database_password": "x"}, {"database_ssl_mode": "require"}])
def test_sqlite_refuses_what_only_postgresql_can_use(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str]
) -> None:
    with pytest.raises(SettingsError, match=r"appl(y|ies) to PostgreSQL only"):
        _settings(monkeypatch, **env).database()


def test_the_modes_are_libpqs(ca_file: Path) -> None:
    full = tls_context(DatabaseTls("verify-full", ca_file))
    assert full.verify_mode == ssl.CERT_REQUIRED and full.check_hostname
    chain_only = tls_context(DatabaseTls("verify-ca", ca_file))
    assert chain_only.verify_mode == ssl.CERT_REQUIRED and not chain_only.check_hostname
    encrypted = tls_context(DatabaseTls("require"))
    assert encrypted.verify_mode == ssl.CERT_NONE and not encrypted.check_hostname
    assert Database(PG, tls=DatabaseTls("disable")).connect_args() == {"ssl": False}
    assert Database(PG).connect_args() == {}  # asyncpg's default, or what the URL says


def test_a_refused_password_is_named_by_its_setting_not_its_value() -> None:
    class Refused(Exception):
        sqlstate = "28P01"

    database = Database(PG, password="very-secret")
    assert explain(RuntimeError("connect failed"), database) is None
    wrapped = RuntimeError("connect failed")
    wrapped.__cause__ = Refused('password authentication failed for user "alerting"')
    reason = explain(wrapped, database)
    assert reason is not None
    assert "ALERTING_DATABASE_PASSWORD" in str(reason) and "very-secret" not in str(reason)


async def test_a_database_nobody_listens_for_is_named_by_its_setting() -> None:
    where = f"postgresql+asyncpg://alerting@127.0.0.1:{free_port()}/alerting"
    database = Database(where, password="pw-1")
    engine = create_engine(database)
    try:
        with pytest.raises(SettingsError) as refused:
            with explained(database):
                await current_revision(engine)
    finally:
        await engine.dispose()
    message = str(refused.value)
    assert f"cannot reach the database {where} (ConnectionRefusedError" in message
    assert "check ALERTING_DATABASE_URL" in message and "pw-1" not in message
