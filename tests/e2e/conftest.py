"""The secured broker: deploy/local/kafka.sh in its SASL_SSL mode, for this test session."""

from __future__ import annotations

import os
import secrets
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from alerting.settings import Settings
from tests.conftest import ROOT

SECURE_KAFKA_PORT = int(os.environ.get("ALERTING_TEST_SECURE_KAFKA_PORT", "19192"))
KAFKA_SCRIPT = ROOT / "deploy/local/kafka.sh"


@dataclass(frozen=True)
class SecureBroker:
    """A SASL_SSL listener (SCRAM-SHA-256/512, PLAIN, unsigned OAUTHBEARER) with a CA of its own."""

    bootstrap: str
    cafile: Path
    username: str
    password: str
    started_in_s: float

    def values(self, mechanism: str = "SCRAM-SHA-512", **overrides: Any) -> dict[str, Any]:
        """Settings (field names) for a client of this broker."""
        values: dict[str, Any] = {
            "kafka_bootstrap_servers": self.bootstrap,
            "kafka_security_protocol": "SASL_SSL",
            "kafka_sasl_mechanism": mechanism,
            "kafka_ssl_cafile": str(self.cafile),
        }
        if mechanism != "OAUTHBEARER":
            values |= {"kafka_sasl_username": self.username, "kafka_sasl_password": self.password}
        return values | overrides

    def settings(self, mechanism: str = "SCRAM-SHA-512", **overrides: Any) -> Settings:
        return Settings(**self.values(mechanism, **overrides))

    def env(self, mechanism: str = "SCRAM-SHA-512", **overrides: Any) -> dict[str, str]:
        """The same as ALERTING_* variables, for the service's process."""
        return {
            f"ALERTING_{name.upper()}": str(value)
            for name, value in self.values(mechanism, **overrides).items()
            if value is not None
        }


@pytest.fixture(scope="session")
def secure_kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecureBroker]:
    username, password = "alerting-test", f"pw-{secrets.token_urlsafe(12)}"
    env = {
        **os.environ,
        "KAFKA_PORT": str(SECURE_KAFKA_PORT),
        "KAFKA_SECURITY": "sasl_ssl",
        "KAFKA_DATA_DIR": str(tmp_path_factory.mktemp("kafka-secure-data")),
        "KAFKA_SASL_USERNAME": username,
        "KAFKA_SASL_PASSWORD": password,
    }
    # One left running on this port by an interrupted session has another user and CA.
    subprocess.run([KAFKA_SCRIPT, "stop"], check=False, env=env)
    began = time.monotonic()
    subprocess.run([KAFKA_SCRIPT, "start"], check=True, env=env)
    started_in = time.monotonic() - began
    cafile = subprocess.run(
        [KAFKA_SCRIPT, "ca-path"], check=True, env=env, capture_output=True, text=True
    ).stdout.strip()
    yield SecureBroker(f"127.0.0.1:{SECURE_KAFKA_PORT}", Path(cafile), username, password, started_in)
    subprocess.run([KAFKA_SCRIPT, "stop"], check=False, env=env)
