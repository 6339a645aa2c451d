"""County acts racing the firing engine, in real concurrent transactions: each deadline gets exactly
one outcome in the log, and each incident exactly one acknowledger.

On PostgreSQL the firing transaction is held open until every acknowledgement is waiting on a row
lock (seen in pg_stat_activity), so the interleaving that used to write a second entry happens every
run. SQLite serialises writers, so there the same acts simply run at once.
"""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from alerting.county import actions
from alerting.domain import DeadlineKind, EntryKind, Level
from alerting.events import EventKind
from alerting.policy.model import Policy
from alerting.storage.schema import incident_events, incidents
from escalation.engine import fire_due
from tests.storage.test_rule_reports import (
    MIN,
    RECEIVED,
    _chain_verifies,  # noqa: F401  (autouse: the chain verifies after each test)
    entries,
    report,
    store,
)
from tests.support import eventually, firing_for

INCIDENTS = [f"race-{n}" for n in range(6)]
OFFICERS = ("值班员甲", "值班员乙")
AFTER_DUE = RECEIVED + 6 * MIN  # level II: acknowledgement due 5 minutes after receipt


async def _lock_waiters(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        query = text(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        return int((await conn.execute(query)).scalar_one())


async def _ack(engine: AsyncEngine, incident_id: str, who: str) -> actions.Acknowledged:
    async with engine.begin() as conn:
        return await actions.acknowledge(conn, incident_id, who, AFTER_DUE)


async def _fire_then_race(engine: AsyncEngine, policy: Policy) -> list[Any]:
    """A firing tick and two acknowledgements per incident at the same instant."""
    acks = [(i, who) for i in INCIDENTS for who in OFFICERS]
    if engine.dialect.name != "postgresql":

        async def tick() -> None:
            async with engine.begin() as conn:
                await fire_due(conn, firing_for(policy), AFTER_DUE)

        return list(await asyncio.gather(*(_ack(engine, i, who) for i, who in acks), tick()))[:-1]
    async with engine.begin() as conn:
        assert len(await fire_due(conn, firing_for(policy), AFTER_DUE)) == len(INCIDENTS)
        racing = [asyncio.create_task(_ack(engine, i, who)) for i, who in acks]

        async def all_waiting() -> bool:
            return await _lock_waiters(engine) == len(acks)

        await eventually(all_waiting, what="every acknowledgement waiting on a row lock")
    return list(await asyncio.gather(*racing))


async def test_acks_racing_a_firing_tick_write_one_outcome_each(engine: AsyncEngine, policy: Policy) -> None:
    for incident_id in INCIDENTS:
        await store(engine, policy, report(incident_id, level=Level.II))

    results = await _fire_then_race(engine, policy)

    # The whole log: one unacknowledged entry per incident's deadline, never two.
    assert sorted((e.kind, e.incident_id, e.details["deadline"]) for e in await entries(engine)) == [
        (EntryKind.UNACKNOWLEDGED.value, incident_id, DeadlineKind.ACK.value) for incident_id in INCIDENTS
    ]
    async with engine.connect() as conn:
        acked = dict((await conn.execute(select(incidents.c.id, incidents.c.acknowledged_by))).all())
        noted = (
            await conn.execute(
                select(incident_events.c.incident_id, incident_events.c.actor).where(
                    incident_events.c.kind == EventKind.ACKNOWLEDGED.value
                )
            )
        ).all()
    # One acknowledger per incident: the one recorded, the one on the timeline, and the one both
    # answers name; exactly one of the two was told it acknowledged.
    assert sorted(noted) == sorted(acked.items())
    for incident_id in INCIDENTS:
        answers = [r for r in results if r.incident_id == incident_id]
        assert {r.acknowledged_by for r in answers} == {acked[incident_id]}
        assert sorted(r.already for r in answers) == [False, True]
