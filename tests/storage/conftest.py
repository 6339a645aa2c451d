"""Storage fixtures: a freshly migrated database on each backend, and the example policy."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from alerting.policy.model import Policy
from alerting.storage.engine import create_engine, upgrade
from tests.support import example_policy


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    await asyncio.to_thread(upgrade, database_url)
    engine = create_engine(database_url)
    try:
        yield engine
    finally:
        await engine.dispose()


@pytest.fixture(scope="session")
def policy() -> Policy:
    return example_policy("http://127.0.0.1:9/hook")
