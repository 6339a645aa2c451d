"""The service as production runs it on PostgreSQL: the schema owner ran `alerting migrate`, and
`alerting run` signs in as the service's role (password from ALERTING_DATABASE_PASSWORD), does not
migrate (ALERTING_MIGRATE_ON_START=false), and takes a report end to end: stored, its accountability
entry appended, the duty officer's escalation delivered."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from tests.faults.harness import ServiceProcess, fault_policy, service_env, wait_for
from tests.pg_roles import Roles, alerting, owner_and_service_roles
from tests.support import receiver, report_body

pytestmark = [pytest.mark.postgres, pytest.mark.kafka]


@pytest.fixture
async def roles(postgres_admin_dsn: str) -> AsyncIterator[Roles]:
    async with owner_and_service_roles(postgres_admin_dsn) as made:
        yield made


async def test_the_service_role_takes_a_report_end_to_end(
    roles: Roles, kafka_bootstrap: str, tmp_path: Path
) -> None:
    migrated = alerting("migrate", env=roles.owner_env())
    assert migrated.returncode == 0, migrated.stderr
    async with receiver() as hook:
        env = service_env(
            roles.url(roles.service),
            kafka_bootstrap,
            fault_policy(tmp_path / "policy.toml", ack="1s"),
            hook.url,
        )
        env.update(roles.service_env())
        made = alerting("token", "create", "--role", "township", "--township", "城关镇", env=env)
        assert made.returncode == 0, made.stderr
        token = made.stdout.strip().splitlines()[-1]
        service = ServiceProcess(env, tmp_path / "service.log")
        service.start()
        owner = await roles.connect(roles.owner, roles.owner_password)
        try:
            async with httpx.AsyncClient(base_url=service.url, timeout=10) as client:

                async def ready() -> bool:
                    return (await client.get("/readyz")).status_code == 200

                await wait_for(ready, "/readyz", within=60)
                # Learned three hours ago, first report due within one: a late report (迟报).
                body = report_body("PG-ROLE-1", "城关镇", known_at=datetime.now(UTC) - timedelta(hours=3))
                posted = await client.post(
                    "/api/v1/reports", json=body, headers={"Authorization": f"Bearer {token}"}
                )
                assert posted.status_code == 202, posted.text

                async def recorded() -> bool:
                    kinds = await owner.fetch(
                        "SELECT kind FROM accountability_entries WHERE incident_id = 'PG-ROLE-1'"
                    )
                    return {"late_report", "unacknowledged"} <= {row["kind"] for row in kinds}

                await wait_for(
                    recorded, "the late report's and the unacknowledged alert's entries", within=60
                )

                async def delivered() -> bool:
                    return (
                        await owner.fetchval(
                            "SELECT count(*) FROM notifications "
                            "WHERE incident_id = 'PG-ROLE-1' AND state = 'sent'"
                        )
                        >= 1
                    )

                await wait_for(delivered, "the escalation delivered", within=60)
                rows = await owner.fetch(
                    "SELECT kind, township, responsible, report_id, delay_seconds, occurred_at "
                    "FROM accountability_entries WHERE incident_id = 'PG-ROLE-1' ORDER BY id"
                )
                # Exactly these, written by the service's role: the first report 2 h late, the
                # written report (due 2 h after known_at) already missed, the alert unacknowledged
                # 1 s after receipt.
                assert [(r["kind"], r["township"], r["responsible"]) for r in rows] == [
                    ("late_report", "城关镇", "城关镇"),
                    ("missing_report", "城关镇", "城关镇"),
                    ("unacknowledged", "城关镇", "duty_officer"),
                ]
                late, missing, unacknowledged = rows
                assert late["delay_seconds"] == 2 * 3600
                assert missing["occurred_at"] == datetime.fromisoformat(body["known_at"]) + timedelta(hours=2)
                assert unacknowledged["occurred_at"] - late["occurred_at"] == timedelta(seconds=1)
            assert await owner.fetchval("SELECT count(*) FROM reports WHERE incident_id = 'PG-ROLE-1'") == 1
            # Every connection the service holds is its own role's, none the owner's.
            users = await owner.fetch(
                "SELECT DISTINCT usename FROM pg_stat_activity "
                "WHERE datname = $1 AND pid <> pg_backend_pid()",
                roles.database,
            )
            assert [row["usename"] for row in users] == [roles.service]
        finally:
            await owner.close()
            code = service.terminate()
    assert code == 0
    assert any(r.body.get("incident", {}).get("id") == "PG-ROLE-1" for r in hook.received)
    log = service.log()
    assert "service started" in log
    for secret in roles.secrets():
        assert secret not in log + made.stdout + made.stderr + migrated.stdout + migrated.stderr
