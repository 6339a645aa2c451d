"""Where the database is and how to reach it: the URL, a password kept apart from it (so the URL can
live in a ConfigMap and the password in a Secret), and TLS to PostgreSQL; and what a failure to
connect means, said in terms of the ALERTING_* setting to fix."""

from __future__ import annotations

import contextlib
import ssl
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy.engine import URL, make_url

from alerting.errors import SettingsError

SSL_MODES = ("disable", "require", "verify-ca", "verify-full")
INSUFFICIENT_PRIVILEGE = "42501"
_INVALID_PASSWORD = "28P01"
_REFUSED_BY_RULES = "28000"  # pg_hba.conf: no entry, or a reject rule


@dataclass(frozen=True)
class DatabaseTls:
    """ALERTING_DATABASE_SSL_*: libpq's sslmode names, checked the way libpq checks them."""

    mode: str
    root_cert: Path | None = None
    cert: Path | None = None
    key: Path | None = None


@dataclass(frozen=True)
class Database:
    """One way into the database: the service's (ALERTING_DATABASE_*) or the schema owner's
    (ALERTING_MIGRATION_DATABASE_*). The setting names are carried for the messages."""

    url: str
    password: str | None = field(default=None, repr=False)
    tls: DatabaseTls | None = None
    url_setting: str = "ALERTING_DATABASE_URL"
    password_setting: str = "ALERTING_DATABASE_PASSWORD"

    def __post_init__(self) -> None:
        self.check()

    def __repr__(self) -> str:  # the URL may hold a password too
        return f"Database({self.shown()!r}, tls={self.tls!r})"

    @property
    def is_sqlite(self) -> bool:
        return self._parsed().get_backend_name() == "sqlite"

    def sqlalchemy_url(self) -> URL:
        """The URL to connect with (the password set apart replaces the URL's). Never print it:
        print `shown()`."""
        url = self._parsed()
        return url if self.password is None else url.set(password=self.password)

    def shown(self) -> str:
        return self._parsed().render_as_string(hide_password=True)

    def role(self) -> str:
        return self._parsed().username or "(default)"

    def connect_args(self) -> dict[str, Any]:
        """asyncpg's `ssl` argument when TLS is configured here; else nothing (asyncpg's own
        default, or what the URL's query says)."""
        if self.tls is None or self.is_sqlite:
            return {}
        return {"ssl": False if self.tls.mode == "disable" else tls_context(self.tls)}

    def _parsed(self) -> URL:
        try:
            return make_url(self.url)
        except Exception:  # the text may hold a password: never repeat it
            raise SettingsError(
                f"{self.url_setting} 不是有效的数据库地址 / is not a database URL; write e.g. "
                "postgresql+asyncpg://alerting@db.county.example:5432/alerting"
            ) from None

    def check(self) -> None:
        """Refuse a combination that cannot mean what the operator wants, naming the setting."""
        url = self._parsed()
        if url.get_backend_name() == "sqlite":
            if self.password is not None:
                raise SettingsError(
                    f"{self.password_setting} 只用于 PostgreSQL / applies to PostgreSQL only, and "
                    f"{self.url_setting} is a SQLite file"
                )
            if self.tls is not None and (self.tls.mode != "disable" or _files(self.tls)):
                raise SettingsError(
                    "ALERTING_DATABASE_SSL_* 只用于 PostgreSQL / apply to PostgreSQL only, and "
                    f"{self.url_setting} is a SQLite file"
                )
            return
        if self.tls is not None and ({"ssl", "sslmode"} & set(url.query)):
            raise SettingsError(
                f"{self.url_setting} 已含 ssl/sslmode 参数，与 ALERTING_DATABASE_SSL_MODE 重复 / "
                "the URL's ssl or sslmode parameter and ALERTING_DATABASE_SSL_MODE both say how to use "
                "TLS: keep only ALERTING_DATABASE_SSL_MODE"
            )


def _files(tls: DatabaseTls) -> list[Path]:
    return [path for path in (tls.root_cert, tls.cert, tls.key) if path is not None]


def database_tls(
    mode: str | None, root_cert: Path | None, cert: Path | None, key: Path | None
) -> DatabaseTls | None:
    """The TLS settings as given, checked for sense; None when none is given."""
    if mode is None:
        if root_cert or cert or key:
            raise SettingsError(
                "ALERTING_DATABASE_SSL_MODE 未设置 / is required with ALERTING_DATABASE_SSL_ROOT_CERT, "
                "_CERT or _KEY: set it to verify-full (or verify-ca)"
            )
        return None
    if mode not in SSL_MODES:
        raise SettingsError(
            f"ALERTING_DATABASE_SSL_MODE={mode!r} 无效 / is not one of {', '.join(SSL_MODES)}"
        )
    if mode.startswith("verify-") and root_cert is None:
        raise SettingsError(
            f"ALERTING_DATABASE_SSL_MODE={mode} 需要 ALERTING_DATABASE_SSL_ROOT_CERT（签发数据库服务器证书的 "
            "CA 证书文件）/ needs ALERTING_DATABASE_SSL_ROOT_CERT: the CA certificate that signed the "
            "server's certificate"
        )
    if mode in ("disable", "require") and root_cert is not None:
        raise SettingsError(
            f"ALERTING_DATABASE_SSL_MODE={mode} 不校验证书，ALERTING_DATABASE_SSL_ROOT_CERT 不起作用 / "
            "does not check the server's certificate, so ALERTING_DATABASE_SSL_ROOT_CERT would be "
            "ignored: use verify-full"
        )
    if mode == "disable" and (cert or key):
        raise SettingsError(
            "ALERTING_DATABASE_SSL_MODE=disable 不使用 TLS / uses no TLS: unset "
            "ALERTING_DATABASE_SSL_CERT and ALERTING_DATABASE_SSL_KEY"
        )
    if key is not None and cert is None:
        raise SettingsError("ALERTING_DATABASE_SSL_KEY 需要 / needs ALERTING_DATABASE_SSL_CERT")
    tls = DatabaseTls(mode, root_cert, cert, key)
    if mode != "disable":
        tls_context(tls)  # unreadable or malformed files are refused now, not at first connection
    return tls


def tls_context(tls: DatabaseTls) -> ssl.SSLContext:
    """verify-full: the chain and the host name; verify-ca: the chain only; require: encryption only."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if tls.mode == "require":
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    else:
        context.check_hostname = tls.mode == "verify-full"
        context.verify_mode = ssl.CERT_REQUIRED
        with _reading("ALERTING_DATABASE_SSL_ROOT_CERT", tls.root_cert):
            context.load_verify_locations(cafile=tls.root_cert)
    if tls.cert is not None:
        with _reading("ALERTING_DATABASE_SSL_CERT / _KEY", tls.cert):
            context.load_cert_chain(tls.cert, tls.key)
    return context


@contextlib.contextmanager
def _reading(setting: str, path: Path | None) -> Iterator[None]:
    try:
        yield
    except FileNotFoundError:
        raise SettingsError(f"{setting}: 文件不存在 / no such file: {path}") from None
    except PermissionError:
        raise SettingsError(f"{setting}: 无权读取 / cannot read {path}") from None
    except (ssl.SSLError, OSError) as exc:
        raise SettingsError(
            f"{setting}: 不是可用的 PEM 证书或密钥 / not a usable PEM file: {path} ({exc})"
        ) from None


def explain(exc: BaseException, database: Database) -> SettingsError | None:
    """A failure to reach or sign in to the database, as the setting to fix; None if it is not one.
    The messages name the role and the host, never the password."""
    for cause in _chain(exc):
        if isinstance(cause, ssl.SSLCertVerificationError):
            return _certificate_refused(cause, database)
        state = getattr(cause, "sqlstate", None)
        if state == _INVALID_PASSWORD:
            return SettingsError(
                f"数据库拒绝了角色 {database.role()} 的密码 / PostgreSQL refused the password of role "
                f"{database.role()}: check {database.password_setting} (or the password in "
                f"{database.url_setting})"
            )
        if state == _REFUSED_BY_RULES:
            hint = (
                "; the server requires TLS: set ALERTING_DATABASE_SSL_MODE=verify-full"
                if "no encryption" in str(cause)
                else ""
            )
            return SettingsError(f"数据库拒绝连接 / PostgreSQL refused the connection ({cause}){hint}")
        if isinstance(cause, ssl.SSLError) or "rejected SSL upgrade" in str(cause):
            return SettingsError(
                f"与数据库的 TLS 连接失败 / TLS to the database failed ({cause}): check "
                "ALERTING_DATABASE_SSL_MODE and whether the server has TLS on"
            )
        if isinstance(cause, (ConnectionRefusedError, TimeoutError, OSError)) and not isinstance(
            cause, ssl.SSLError
        ):
            where = database.shown()
            return SettingsError(
                f"无法连接数据库 / cannot reach the database {where} ({cause.__class__.__name__}: "
                f"{cause}): check {database.url_setting} and that the server is up"
            )
    return None


def _certificate_refused(cause: ssl.SSLCertVerificationError, database: Database) -> SettingsError:
    reason = cause.verify_message or str(cause)
    if "mismatch" in reason:  # "Hostname mismatch" / "IP address mismatch"
        host = database.sqlalchemy_url().host
        return SettingsError(
            f"数据库服务器证书不含主机名 {host} / the database server's certificate is not valid for "
            f"{host} ({reason}): with ALERTING_DATABASE_SSL_MODE=verify-full the host in "
            f"{database.url_setting} must be a name the certificate lists"
        )
    root = database.tls.root_cert if database.tls else None
    return SettingsError(
        f"数据库服务器证书未通过验证 / the database server's certificate did not verify against "
        f"ALERTING_DATABASE_SSL_ROOT_CERT ({root}): {reason}"
    )


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """The exception, what it wraps (SQLAlchemy's `orig`) and what caused it, each once."""
    seen: set[int] = set()
    todo: list[BaseException | None] = [exc]
    while todo:
        current = todo.pop(0)
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        orig = getattr(current, "orig", None)
        todo += [orig if isinstance(orig, BaseException) else None, current.__cause__, current.__context__]


def sqlstate(exc: BaseException) -> str | None:
    """The SQLSTATE of a database error, however wrapped."""
    for cause in _chain(exc):
        if isinstance(state := getattr(cause, "sqlstate", None), str):
            return state
    return None
