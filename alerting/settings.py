"""Process settings from ALERTING_* environment variables, read once by the composition root."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from alerting.errors import SettingsError
from alerting.storage.connection import Database, DatabaseTls, database_tls


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ALERTING_", extra="ignore")

    database_url: str = "sqlite+aiosqlite:///./var/alerting.db"
    kafka_bootstrap_servers: str = "127.0.0.1:9092"
    kafka_topic: str = "incident.reports"
    kafka_dlq_topic: str = "incident.reports.dlq"
    kafka_group_id: str = "alerting"
    kafka_topic_partitions: int = Field(default=6, ge=1)
    kafka_produce_timeout_s: float = Field(default=5.0, gt=0)
    # The topics the service creates: 1 on one local broker; in production 3 and 2, so a report
    # acknowledged (acks=all) survives the loss of a broker and a lone broker cannot accept one.
    kafka_replication_factor: int = Field(default=1, ge=1)
    kafka_min_insync_replicas: int = Field(default=1, ge=1)
    # How the service reaches a secured cluster (consumers/kafka_client.py builds every client from
    # these). TLS is verified against ALERTING_KAFKA_SSL_CAFILE (the system's CAs when unset), host
    # name included; a client certificate is optional.
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    kafka_sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER"] | None = None
    kafka_sasl_username: str | None = None
    kafka_sasl_password: SecretStr | None = None
    kafka_ssl_cafile: Path | None = None
    kafka_ssl_certfile: Path | None = None
    kafka_ssl_keyfile: Path | None = None
    # OAUTHBEARER: a file holding the current token, read again at every (re)connection, as a
    # Kubernetes projected service-account token is rotated in place.
    kafka_oauth_token_file: Path | None = None
    http_host: str = "127.0.0.1"
    http_port: int = 8000
    policy: Path = Path("deploy/policy.example.toml")
    # Longest a replica sleeps without looking at the deadline table; bounds the delay for
    # deadlines armed by another replica.
    sweep_interval_s: float = Field(default=5.0, gt=0)
    # A notification claimed for sending longer than this is taken to be orphaned by a crash.
    send_lease_s: float = Field(default=60.0, gt=0)
    max_message_bytes: int = Field(default=256 * 1024, ge=1024)
    # Where people reach this service: the base of acknowledgement links in notifications. Unset, it
    # is this process's own address, which is right only on loopback (see link_base).
    public_url: str | None = None
    # Signs acknowledgement links; generated and kept in the database when not given.
    link_secret: SecretStr | None = None
    # Encrypts the producer keys' secrets in the database (alerting/producer_keys.py). Unset, a key
    # the database itself holds is used: fine on one machine, not where the database is shared.
    key_encryption_key: SecretStr | None = None
    # Which parts this process runs: the API always; any of consumer, deadlines, delivery. An
    # intake-only replica (ALERTING_COMPONENTS=api) keeps the HTTP path free of consumer work.
    components: str = "consumer,deadlines,delivery"
    # Run those components in a child process (alerting/app/worker.py), so that HTTP requests do not
    # wait behind a consumed batch or a burst of firing on the same core: one process each.
    worker_process: bool = True
    # The worker's CPU priority below the API's (nice increment, 0-19) for when they share a core.
    worker_nice: int = Field(default=5, ge=0, le=19)
    # How often the components sample the gauges the alert rules watch (outbox backlog, overdue
    # deadlines, consumer lag, roster end): cheap indexed queries, so about a scrape interval.
    metrics_sample_interval_s: float = Field(default=15.0, gt=0)
    # How often the deadlines component verifies the whole accountability chain (seconds; 6 h). It
    # reads every entry once, hashing off the event loop.
    chain_verify_interval_s: float = Field(default=6 * 3600.0, gt=0)

    @model_validator(mode="after")
    def _kafka_security_is_complete(self) -> Settings:
        """Refuse a SASL set-up that could never authenticate. Raised as SettingsError, not
        ValueError: pydantic would print the whole input with it, password included."""
        sasl = self.kafka_security_protocol.startswith("SASL_")
        if sasl and self.kafka_sasl_mechanism is None:
            raise SettingsError(
                f"ALERTING_KAFKA_SASL_MECHANISM 未设置：ALERTING_KAFKA_SECURITY_PROTOCOL="
                f"{self.kafka_security_protocol} 需要认证机制 / ALERTING_KAFKA_SASL_MECHANISM is required "
                f"with ALERTING_KAFKA_SECURITY_PROTOCOL={self.kafka_security_protocol}: "
                "PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 or OAUTHBEARER"
            )
        if not sasl and self.kafka_sasl_mechanism is not None:
            raise SettingsError(
                f"ALERTING_KAFKA_SASL_MECHANISM={self.kafka_sasl_mechanism} 需要 "
                "ALERTING_KAFKA_SECURITY_PROTOCOL=SASL_SSL 或 SASL_PLAINTEXT / "
                f"ALERTING_KAFKA_SASL_MECHANISM is set but ALERTING_KAFKA_SECURITY_PROTOCOL is "
                f"{self.kafka_security_protocol}: use SASL_SSL (or SASL_PLAINTEXT)"
            )
        if self.kafka_sasl_mechanism == "OAUTHBEARER":
            if self.kafka_oauth_token_file is None:
                raise SettingsError(
                    "ALERTING_KAFKA_OAUTH_TOKEN_FILE 未设置：OAUTHBEARER 需要令牌文件 / "
                    "ALERTING_KAFKA_OAUTH_TOKEN_FILE is required with "
                    "ALERTING_KAFKA_SASL_MECHANISM=OAUTHBEARER"
                )
        elif self.kafka_sasl_mechanism is not None:
            missing = [
                name
                for name, value in (
                    ("ALERTING_KAFKA_SASL_USERNAME", self.kafka_sasl_username),
                    ("ALERTING_KAFKA_SASL_PASSWORD", self.kafka_sasl_password),
                )
                if not (value.get_secret_value() if isinstance(value, SecretStr) else value)
            ]
            if missing:
                raise SettingsError(
                    f"{'、'.join(missing)} 未设置：{self.kafka_sasl_mechanism} 认证需要用户名和密码 / "
                    f"{' and '.join(missing)} required with ALERTING_KAFKA_SASL_MECHANISM="
                    f"{self.kafka_sasl_mechanism}"
                )
        tls_files = [
            f"ALERTING_KAFKA_SSL_{name}"
            for name, path in (
                ("CAFILE", self.kafka_ssl_cafile),
                ("CERTFILE", self.kafka_ssl_certfile),
                ("KEYFILE", self.kafka_ssl_keyfile),
            )
            if path is not None
        ]
        if tls_files and not self.kafka_security_protocol.endswith("SSL"):
            # Most likely the protocol was forgotten: the files would be silently unused.
            raise SettingsError(
                f"{'、'.join(tls_files)} 已设置，但 ALERTING_KAFKA_SECURITY_PROTOCOL="
                f"{self.kafka_security_protocol} 不使用 TLS / {' and '.join(tls_files)} set but "
                f"ALERTING_KAFKA_SECURITY_PROTOCOL is {self.kafka_security_protocol}: use SSL or SASL_SSL"
            )
        if self.kafka_ssl_keyfile is not None and self.kafka_ssl_certfile is None:
            raise SettingsError(
                "ALERTING_KAFKA_SSL_KEYFILE 需要 ALERTING_KAFKA_SSL_CERTFILE（客户端证书）/ "
                "ALERTING_KAFKA_SSL_KEYFILE is set without ALERTING_KAFKA_SSL_CERTFILE "
                "(the client certificate)"
            )
        return self

    def link_base(self) -> str:
        """The base of acknowledgement links: ALERTING_PUBLIC_URL, or where this process listens if
        that is a loopback address. Listening elsewhere, only the operator knows the address people use
        (a proxy, a DNS name), so it must be given."""
        if self.public_url:
            return self.public_url
        host = self.http_host
        if host == "localhost" or host == "::1" or host.startswith("127."):
            return f"http://{f'[{host}]' if ':' in host else host}:{self.http_port}"
        raise SettingsError(
            f"ALERTING_PUBLIC_URL 未设置：服务监听 {host}，签收链接须指向人们访问本服务的地址 / "
            f"ALERTING_PUBLIC_URL is required when ALERTING_HTTP_HOST ({host}) is not a loopback "
            "address: acknowledgement links must point where people reach the service, "
            "e.g. https://alerting.county.example"
        )

    def topic_replication(self) -> tuple[int, int]:
        """(replication factor, min.insync.replicas) for the topics the service creates."""
        if self.kafka_min_insync_replicas > self.kafka_replication_factor:
            raise SettingsError(
                f"ALERTING_KAFKA_MIN_INSYNC_REPLICAS ({self.kafka_min_insync_replicas}) 不能大于 / "
                f"cannot exceed ALERTING_KAFKA_REPLICATION_FACTOR ({self.kafka_replication_factor})"
            )
        return self.kafka_replication_factor, self.kafka_min_insync_replicas

    def component_set(self) -> frozenset[str]:
        parts = frozenset(p.strip() for p in self.components.split(",") if p.strip()) - {"api"}
        unknown = parts - {"consumer", "deadlines", "delivery"}
        if unknown:
            raise SettingsError(f"ALERTING_COMPONENTS: unknown {', '.join(sorted(unknown))}")
        return parts

    # People's sessions on the web pages: signed out after this long without a request, and after
    # this long in any case (a new sign-in is needed).
    session_idle_minutes: int = Field(default=30, ge=1, le=24 * 60)
    session_absolute_hours: int = Field(default=12, ge=1, le=24 * 7)

    def secure_cookies(self) -> bool:
        """Session cookies are marked Secure when people reach the service over https."""
        return (self.public_url or "").startswith("https://")

    # Fault-injection tests only (see alerting/failpoints.py); never set in production.
    failpoints: str = ""

    # PostgreSQL with least privilege (README, "PostgreSQL roles"). The password apart from the URL,
    # so that the URL can sit in a ConfigMap and the password in a Secret.
    database_password: SecretStr | None = None
    # The schema owner's, for `alerting migrate`; unset, the service's URL (and then its password).
    migration_database_url: str | None = None
    migration_database_password: SecretStr | None = None
    # The role `alerting migrate` grants row access to (the one in ALERTING_DATABASE_URL).
    database_service_role: str | None = None
    # true: each start (and each command) brings the schema up to date, which the embedded SQLite
    # default needs; false: only check it is at this version's head and refuse to start otherwise.
    migrate_on_start: bool = True
    database_ssl_mode: str | None = None  # disable | require | verify-ca | verify-full
    database_ssl_root_cert: Path | None = None
    database_ssl_cert: Path | None = None
    database_ssl_key: Path | None = None

    @field_validator(
        "database_password",
        "migration_database_url",
        "migration_database_password",
        "database_service_role",
        "database_ssl_mode",
        "database_ssl_root_cert",
        "database_ssl_cert",
        "database_ssl_key",
        mode="before",
    )
    @classmethod
    def _empty_is_unset(cls, value: Any) -> Any:
        # A chart or an environment file renders an unused setting as an empty string.
        return None if isinstance(value, str) and not value.strip() else value

    def database(self) -> Database:
        """How the service reaches its database (checked: a bad combination is refused here)."""
        return Database(self.database_url, _secret(self.database_password), self._database_tls())

    def migration_database(self) -> Database:
        """How `alerting migrate` reaches it: as the schema owner."""
        if self.migration_database_url is None:
            password = self.migration_database_password or self.database_password
            return Database(self.database_url, _secret(password), self._database_tls())
        return Database(
            self.migration_database_url,
            _secret(self.migration_database_password),
            self._database_tls(),
            url_setting="ALERTING_MIGRATION_DATABASE_URL",
            password_setting="ALERTING_MIGRATION_DATABASE_PASSWORD",
        )

    def _database_tls(self) -> DatabaseTls | None:
        return database_tls(
            self.database_ssl_mode, self.database_ssl_root_cert, self.database_ssl_cert, self.database_ssl_key
        )


def _secret(value: SecretStr | None) -> str | None:
    return None if value is None else value.get_secret_value()
