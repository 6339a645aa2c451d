"""GET /api/v1/accountability/verify through the running service: a full run, or one from the latest
checkpoint (`since_checkpoint=true`); an auditor's GET never writes to the log."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import func, select

from alerting.accountability.checkpoints import record_checkpoint
from alerting.accountability.verify import verify_chain
from alerting.clock import FakeClock
from alerting.domain import Role
from alerting.storage.schema import accountability_entries as entries
from tests.storage.test_verify import behind_the_back, stored, write_chain
from tests.support import example_policy, running_service, service_settings

T0 = datetime(2026, 3, 4, 1, 0, tzinfo=UTC)


async def test_the_api_verifies_from_the_checkpoint_on_request_and_writes_nothing(
    database_url: str, kafka_bootstrap: str
) -> None:
    # The API alone: no deadlines component, so nothing but this test writes a checkpoint.
    settings = service_settings(database_url, kafka_bootstrap, components="api")
    async with running_service(settings, example_policy("http://127.0.0.1:9/hook"), FakeClock(T0)) as run:
        engine = run.service.engine
        auditor = {"Authorization": f"Bearer {await run.token(Role.AUDITOR)}"}
        rows = await write_chain(engine)

        async def verified(**params: str) -> dict[str, object]:
            response = await run.client.get("/api/v1/accountability/verify", params=params, headers=auditor)
            assert response.status_code == 200, response.text
            body: dict[str, object] = response.json()
            return body

        async def count() -> int:
            async with engine.connect() as conn:
                return int((await conn.execute(select(func.count()).select_from(entries))).scalar_one())

        no_checkpoint_yet = await verified(since_checkpoint="true")
        assert no_checkpoint_yet == {
            "entries_checked": 5,
            "intact": True,
            "broken_at": None,
            "problem": None,
            "expected": None,
            "found": None,
            "last_hash": rows[-1].hash,
            "scope": "full",
            "checkpoint": None,
            "verified_through": rows[-1].id,
        }
        assert await count() == 5  # nothing recorded by a GET

        async with engine.connect() as conn:
            report = await verify_chain(conn)
        async with engine.begin() as conn:
            checkpoint = await record_checkpoint(conn, report, T0)
        head = (await stored(engine))[-1]

        since = await verified(since_checkpoint="true")
        assert since == {
            **no_checkpoint_yet,
            "entries_checked": 1,
            "last_hash": head.hash,
            "scope": "since_checkpoint",
            "checkpoint": checkpoint,
            "verified_through": checkpoint,
        }
        assert (await verified())["entries_checked"] == 6  # the default: the whole chain
        assert await count() == 6

        await behind_the_back(
            engine,
            entries.update().where(entries.c.id == rows[1].id).values(details={"forged": True}),
        )
        assert (await verified(since_checkpoint="true"))["intact"] is True  # before the checkpoint
        full = await verified(since_checkpoint="false")
        assert (full["intact"], full["broken_at"], full["problem"]) == (False, rows[1].id, "content changed")
        assert await count() == 6

        duty = {"Authorization": f"Bearer {await run.token(Role.DUTY_OFFICER)}"}
        refused = await run.client.get("/api/v1/accountability/verify", headers=duty)
        assert refused.status_code == 403
