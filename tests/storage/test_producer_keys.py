"""Producer keys at rest and as the consumer's keyring sees them, on both databases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import SecretStr
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from alerting import producer_keys
from alerting.errors import CommandError, SettingsError
from alerting.storage.schema import producer_keys as table
from consumers.keyring import REFRESH_S, Keyring

NOW = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
KEK = SecretStr("k" * 40)


async def test_secrets_are_kept_encrypted_and_bound_to_their_key_id(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        kek = await producer_keys.encryption_key(conn, KEK)
        key_id, secret = await producer_keys.create(
            conn, holder="城关镇平台", township="城关镇", kek=kek, now=NOW
        )
        service = await producer_keys.service_key(conn, kek, NOW)
    async with engine.connect() as conn:
        dump = " ".join(str(v) for row in await conn.execute(select(table)) for v in row)
        keys = await producer_keys.load(conn, kek)
    assert secret not in dump and service.secret is not None and service.secret.decode() not in dump
    assert keys[key_id].secret == secret.encode() and keys[key_id].township == "城关镇"
    assert keys["county-api"].township is None
    async with engine.begin() as conn:  # the service key is made once, whoever asks again
        assert await producer_keys.service_key(conn, kek, NOW) == service
    # A row copied under another id does not decrypt: the id is part of what was sealed.
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "UPDATE producer_keys SET secret_encrypted = (SELECT secret_encrypted FROM producer_keys "
                "WHERE key_id = 'county-api') WHERE key_id = :key_id"
            ),
            {"key_id": key_id},
        )
    async with engine.connect() as conn:
        with pytest.raises(SettingsError, match=f"producer key {key_id} cannot be decrypted"):
            await producer_keys.load(conn, kek)


async def test_a_wrong_key_encryption_key_is_named_at_load(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        kek = await producer_keys.encryption_key(conn, KEK)
        await producer_keys.service_key(conn, kek, NOW)
        wrong = await producer_keys.encryption_key(conn, SecretStr("w" * 40))
        with pytest.raises(SettingsError, match="ALERTING_KEY_ENCRYPTION_KEY is not the key"):
            await producer_keys.load(conn, wrong)
        with pytest.raises(SettingsError, match="too short"):
            await producer_keys.encryption_key(conn, SecretStr("short"))


async def test_revoked_keys_lose_their_secret_and_the_keyring_refuses_them_within_a_minute(
    engine: AsyncEngine,
) -> None:
    async with engine.begin() as conn:
        kek = await producer_keys.encryption_key(conn, None)  # the database-held fallback
        key_id, _ = await producer_keys.create(conn, holder="平台", township=None, kek=kek, now=NOW)
    seconds = [0.0]
    keyring = Keyring(engine, kek, monotonic=lambda: seconds[0])
    await keyring.ensure(())
    assert keyring.keys[key_id].secret is not None

    async with engine.begin() as conn:
        assert await producer_keys.revoke(conn, key_id, NOW + timedelta(hours=1))
        assert not await producer_keys.revoke(conn, key_id, NOW + timedelta(hours=2))  # once
        with pytest.raises(CommandError, match="cannot be revoked"):
            await producer_keys.revoke(conn, "county-api", NOW)
        stored = (
            await conn.execute(select(table.c.secret_encrypted).where(table.c.key_id == key_id))
        ).scalar()
    assert stored == ""

    seconds[0] = REFRESH_S - 1
    await keyring.ensure([key_id])  # known and fresh: no reload yet
    assert keyring.keys[key_id].secret is not None
    seconds[0] = REFRESH_S
    await keyring.ensure([key_id])
    revoked = keyring.keys[key_id]
    assert (revoked.secret, revoked.revoked_at) == (None, NOW + timedelta(hours=1))


async def test_a_key_created_after_the_last_load_is_known_at_once(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        kek = await producer_keys.encryption_key(conn, None)
    keyring = Keyring(engine, kek, monotonic=lambda: 0.0)
    await keyring.ensure(())
    async with engine.begin() as conn:
        key_id, _ = await producer_keys.create(conn, holder="平台", township="城关镇", kek=kek, now=NOW)
    await keyring.ensure([key_id])
    assert key_id in keyring.keys
