"""API tokens: stored only as SHA-256 digests, authenticated by digest lookup."""

from __future__ import annotations

import hashlib

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from alerting import tokens
from alerting.domain import Role
from alerting.errors import ConflictError
from alerting.storage.schema import api_tokens
from tests.storage.factories import T0


async def test_created_token_authenticates_as_its_principal(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        township = await tokens.create(conn, name="城关镇报送", role=Role.TOWNSHIP, township="城关镇", now=T0)
        officer = await tokens.create(conn, name="值班员", role=Role.DUTY_OFFICER, township=None, now=T0)
    async with engine.connect() as conn:
        assert await tokens.authenticate(conn, township) == tokens.Principal(
            "城关镇报送", Role.TOWNSHIP, "城关镇"
        )
        assert await tokens.authenticate(conn, officer) == tokens.Principal("值班员", Role.DUTY_OFFICER, None)
    assert township.startswith(tokens.PREFIX) and township != officer


async def test_wrong_or_revoked_token_is_refused(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        token = await tokens.create(conn, name="审计", role=Role.AUDITOR, township=None, now=T0)
    async with engine.connect() as conn:
        assert await tokens.authenticate(conn, token + "x") is None
        assert await tokens.authenticate(conn, token[:-1]) is None
        assert await tokens.authenticate(conn, "") is None
    async with engine.begin() as conn:
        await conn.execute(api_tokens.update().values(revoked_at=T0))
    async with engine.connect() as conn:
        assert await tokens.authenticate(conn, token) is None


async def test_only_the_digest_is_stored(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        token = await tokens.create(conn, name="管理员", role=Role.ADMIN, township=None, now=T0)
    async with engine.connect() as conn:
        row = (await conn.execute(select(api_tokens))).one()
    assert row.token_hash == hashlib.sha256(token.encode()).hexdigest()
    secret = token.removeprefix(tokens.PREFIX)
    for column, value in row._mapping.items():
        assert secret not in str(value), f"plaintext token in column {column}"
    assert row.created_at == T0


@pytest.mark.parametrize(
    ("role", "township"),
    [(Role.TOWNSHIP, None), (Role.TOWNSHIP, ""), (Role.DUTY_OFFICER, "城关镇")],
)
async def test_township_binding_must_match_the_role(
    engine: AsyncEngine, role: Role, township: str | None
) -> None:
    with pytest.raises(ConflictError):
        async with engine.begin() as conn:
            await tokens.create(conn, name="x", role=role, township=township, now=T0)
    async with engine.connect() as conn:
        assert (await conn.execute(select(api_tokens))).all() == []
