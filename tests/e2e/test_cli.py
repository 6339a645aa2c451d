"""The `alerting` command as a user runs it: a real process, real broker, real signals."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.support import ROOT, free_port

EXAMPLE = (ROOT / "deploy/policy.example.toml").read_text(encoding="utf-8")


def alerting(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "alerting.app", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def base_env(tmp_path: Path, policy_text: str) -> dict[str, str]:
    policy = tmp_path / "policy.toml"
    policy.write_text(policy_text, encoding="utf-8")
    shutil.copy(ROOT / "deploy/roster.example.csv", tmp_path / "roster.example.csv")
    return {
        **os.environ,
        "ALERTING_POLICY": str(policy),
        "ALERTING_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'a.db'}",
        "ALERTING_COUNTY_WEBHOOK_URL": "http://127.0.0.1:9/hook",
    }


def test_bad_policy_stops_start_up_naming_the_key(tmp_path: Path) -> None:
    env = base_env(tmp_path, EXAMPLE.replace('ack = "10m"', 'ack = "ten minutes"'))
    result = alerting("run", env=env)
    assert result.returncode == 2
    line = EXAMPLE.splitlines().index('ack = "10m"') + 1
    assert "[levels.III.ack]" in result.stderr and f"(line {line})" in result.stderr


def test_unset_secret_stops_start_up_naming_the_variable(tmp_path: Path) -> None:
    env = base_env(tmp_path, EXAMPLE)
    del env["ALERTING_COUNTY_WEBHOOK_URL"]
    result = alerting("policy", "check", env=env)
    assert result.returncode == 2
    assert "ALERTING_COUNTY_WEBHOOK_URL is not set" in result.stderr


def test_token_create_prints_a_token_once_and_refuses_a_township_token_without_township(
    tmp_path: Path,
) -> None:
    env = base_env(tmp_path, EXAMPLE)
    made = alerting("token", "create", "--role", "auditor", env=env)
    assert made.returncode == 0 and made.stdout.startswith("alt_")
    refused = alerting("token", "create", "--role", "township", env=env)
    assert refused.returncode == 2 and "--township" in refused.stderr


def test_tokens_are_listed_without_secrets_and_revoked(tmp_path: Path) -> None:
    env = base_env(tmp_path, EXAMPLE)
    secret = alerting(
        "token", "create", "--role", "duty_officer", "--name", "值班员王五", env=env
    ).stdout.strip()
    listed = alerting("token", "list", env=env)
    assert listed.returncode == 0 and "值班员王五" in listed.stdout and secret not in listed.stdout
    assert alerting("token", "revoke", "1", env=env).returncode == 0
    again = alerting("token", "revoke", "1", env=env)
    assert again.returncode == 2 and "no active token" in again.stderr


def test_service_process_serves_and_stops_cleanly_on_sigterm(tmp_path: Path, kafka_bootstrap: str) -> None:
    port = free_port()
    env = {
        **base_env(tmp_path, EXAMPLE),
        "ALERTING_KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "ALERTING_KAFKA_TOPIC": f"incident.reports.cli{port}",
        "ALERTING_KAFKA_GROUP_ID": f"alerting-cli{port}",
        "ALERTING_HTTP_PORT": str(port),
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "alerting.app", "run"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        ready = None
        for _ in range(300):
            try:
                ready = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1)
                if ready.status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None:
                break
            time.sleep(0.1)
        assert ready is not None and ready.json() == {"database": "ok", "kafka": "ok", "worker": "ok"}
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, stderr
    assert "LeaveGroup request succeeded" in stderr and "alerting: stopped" in stderr


def test_commands_are_quiet_about_migrations_unless_verbose(tmp_path: Path) -> None:
    env = base_env(tmp_path, EXAMPLE)
    quiet = alerting("token", "list", env=env)
    assert quiet.returncode == 0, quiet.stderr
    assert "Running upgrade" not in quiet.stderr and quiet.stderr.strip() == ""
    verbose = alerting(
        "-v", "db", "upgrade", env={**env, "ALERTING_DATABASE_URL": env["ALERTING_DATABASE_URL"] + "2"}
    )
    assert verbose.returncode == 0 and "Running upgrade" in verbose.stderr


def test_listening_beyond_loopback_needs_the_public_url(tmp_path: Path) -> None:
    env = {
        **base_env(tmp_path, EXAMPLE),
        "ALERTING_HTTP_HOST": "0.0.0.0",
        "ALERTING_HTTP_PORT": str(free_port()),
    }
    result = alerting("run", env=env)
    assert result.returncode == 2
    assert (
        "ALERTING_PUBLIC_URL is required" in result.stderr and "ALERTING_PUBLIC_URL 未设置" in result.stderr
    )
