"""Storage fixtures: a freshly migrated database on each backend, and the example policy."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from alerting.policy.model import Policy
from tests.support import example_policy, migrated_engine


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    async with migrated_engine(database_url) as engine:
        yield engine


@pytest.fixture(scope="session")
def policy() -> Policy:
    return example_policy("http://127.0.0.1:9/hook")
