"""Outages of the parts the service depends on: the Kafka broker and the PostgreSQL server are
stopped for real under a running service process, then started again."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx

from tests.conftest import PG_PORT, ROOT, LocalBroker
from tests.faults.harness import (
    ServiceProcess,
    counts,
    dedup_receiver,
    fault_policy,
    produce_reports,
    service_env,
    summary,
    wait_for,
)
from tests.support import report_body


def township_token(env: dict[str, str]) -> str:
    made = subprocess.run(
        [
            sys.executable,
            "-m",
            "alerting.app",
            "token",
            "create",
            "--role",
            "township",
            "--township",
            "城关镇",
        ],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return made.stdout.strip()


async def test_kafka_broker_away_longer_than_the_session_timeout(
    kafka_broker: LocalBroker, pg_url: str, tmp_path: Path
) -> None:
    outage = 30.0  # seconds; the consumer's session timeout is 10 s
    async with dedup_receiver() as hook:
        env = service_env(
            pg_url, kafka_broker.bootstrap, fault_policy(tmp_path / "policy.toml", ack="10s"), hook.url
        )
        service = ServiceProcess(env, tmp_path / "service.log")
        service.start()
        token = township_token(env)
        try:
            await produce_reports(kafka_broker.bootstrap, env, 20, "B")

            async def stored() -> bool:
                return (await counts(pg_url))["reports"] == 20

            await wait_for(stored, "reports stored before the outage")
            kafka_broker.stop()
            stopped_at = time.monotonic()
            async with httpx.AsyncClient(base_url=service.url, timeout=30) as client:

                async def not_ready() -> bool:
                    response = await client.get("/readyz")
                    return response.status_code == 503 and response.json()["kafka"] == "unreachable"

                await wait_for(not_ready, "/readyz reporting Kafka unreachable", within=20)
                started = time.monotonic()
                body = report_body("B-during", "城关镇", known_at=datetime.now(UTC))
                refused = await client.post(
                    "/api/v1/reports", json=body, headers={"Authorization": f"Bearer {token}"}
                )
                answered_in = time.monotonic() - started
                assert refused.status_code == 503 and refused.headers.get("retry-after") == "5"
                assert answered_in < 10  # an answer, not a hang

                # Deadlines live in the database: the 20 acknowledgements fall due and are escalated
                # while the broker is away.
                async def escalated() -> bool:
                    return hook.unique == 20

                await wait_for(escalated, "escalations during the outage", within=outage)
                fired_during_outage = hook.unique
                await asyncio.sleep(max(0.0, outage - (time.monotonic() - stopped_at)))
                assert service.running()
                kafka_broker.start()

                await produce_reports(kafka_broker.bootstrap, env, 10, "A")

                async def resumed() -> bool:
                    return (await counts(pg_url))["reports"] == 30

                await wait_for(resumed, "consumption resumed by itself after the outage")
                ready = await client.get("/readyz")
                assert ready.status_code == 200
        finally:
            service.stop_quietly()
            kafka_broker.start()  # whatever happened, the next tests need their broker
    summary(
        "kafka-outage",
        outage_s=int(outage),
        refused_503=1,
        fired_during_outage=fired_during_outage,
        stored=(await counts(pg_url))["reports"],
        lost=0,
    )


async def test_postgres_stopped_and_restarted_under_load(
    kafka_bootstrap: str, pg_url: str, tmp_path: Path
) -> None:
    total = 600
    async with dedup_receiver() as hook:
        env = service_env(pg_url, kafka_bootstrap, fault_policy(tmp_path / "policy.toml", ack="1h"), hook.url)
        service = ServiceProcess(env, tmp_path / "service.log")
        service.start()
        pg = [str(ROOT / "deploy/local/postgres.sh")]
        pg_env = {**os.environ, "PG_PORT": str(PG_PORT)}  # the tests' server, not the default one
        try:
            await produce_reports(kafka_bootstrap, env, total // 3, "P1")

            async def some() -> bool:
                return (await counts(pg_url))["reports"] > 0

            await wait_for(some, "consumption under way")
            await asyncio.to_thread(subprocess.run, [*pg, "stop"], check=True, env=pg_env)
            try:
                # Reports keep coming while the database is away; the consumer must hold them.
                await produce_reports(kafka_bootstrap, env, total // 3, "P2")
                async with httpx.AsyncClient(base_url=service.url, timeout=10) as client:

                    async def db_unready() -> bool:
                        response = await client.get("/readyz")
                        return response.status_code == 503 and response.json()["database"] == "unreachable"

                    await wait_for(db_unready, "/readyz reporting the database unreachable", within=20)
                await asyncio.sleep(5)
                assert service.running()
            finally:
                await asyncio.to_thread(subprocess.run, [*pg, "start"], check=True, env=pg_env)
            await produce_reports(kafka_bootstrap, env, total - 2 * (total // 3), "P3")

            async def everything() -> bool:
                return (await counts(pg_url))["reports"] == total

            await wait_for(everything, "every report stored after the database came back")
            dlq_warnings = service.log().count("to DLQ")
        finally:
            service.stop_quietly()
    rows = await counts(pg_url)
    assert rows["reports"] == total and rows["incidents"] == total
    assert dlq_warnings == 0  # an outage is not a reason to dead-letter anything
    summary("postgres-outage", produced=total, stored=rows["reports"], dead_lettered=dlq_warnings, lost=0)
