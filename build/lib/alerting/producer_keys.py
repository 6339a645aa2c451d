"""Keys the county issues to the systems that write reports to the topic.

A producer signs each message's value with HMAC-SHA256 under its key (consumers/signing.py). The
county must hold the secret itself to check that, so it cannot keep a digest as it does for API
tokens: each secret is kept encrypted with AES-GCM under the key-encryption key, which comes from
ALERTING_KEY_ENCRYPTION_KEY (kept apart from the database) or, when that is unset, from a key the
database holds, which protects nothing against a copy of the database and is meant for one machine.

A key bound to a township speaks for that township only; a county-wide key (the service's own, for
what the HTTP API publishes) may also state when the county received the report.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from pydantic import SecretStr
from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from alerting.errors import CommandError, ConflictError, SettingsError
from alerting.storage import keys
from alerting.storage.schema import producer_keys

log = logging.getLogger(__name__)

SERVICE_KEY_ID = "county-api"  # the key the service signs what its HTTP API publishes with
KEY_PREFIX = "pk_"


@dataclass(frozen=True, slots=True)
class ProducerKey:
    key_id: str
    holder: str
    township: str | None  # None: county-wide
    secret: bytes | None  # None once revoked (never decrypted again)
    revoked_at: datetime | None = None


async def encryption_key(conn: AsyncConnection, configured: SecretStr | None) -> bytes:
    """The 256-bit key that encrypts producer secrets."""
    if configured is not None:
        text = configured.get_secret_value()
        if len(text) < 32:
            raise SettingsError(
                "ALERTING_KEY_ENCRYPTION_KEY 太短 / is too short: give at least 32 random characters, "
                'e.g. python -c "import secrets; print(secrets.token_urlsafe(32))"'
            )
    else:
        text = await keys.load_or_create(conn, "key_encryption_key")
    return hashlib.sha256(text.encode("utf-8")).digest()


def _seal(kek: bytes, key_id: str, secret: bytes) -> str:
    nonce = secrets.token_bytes(12)
    sealed = AESGCM(kek).encrypt(nonce, secret, key_id.encode("utf-8"))  # bound to its key id
    return base64.b64encode(nonce + sealed).decode("ascii")


def _open(kek: bytes, key_id: str, stored: str) -> bytes:
    data = base64.b64decode(stored)
    try:
        return AESGCM(kek).decrypt(data[:12], data[12:], key_id.encode("utf-8"))
    except InvalidTag:
        raise SettingsError(
            f"producer key {key_id} cannot be decrypted: ALERTING_KEY_ENCRYPTION_KEY is not the key "
            "it was stored under / 生产者密钥无法解密：密钥加密密钥与存储时不一致"
        ) from None


def fingerprint(secret: bytes) -> str:
    """What an operator compares to tell keys apart; reveals nothing of the secret."""
    return hashlib.sha256(secret).hexdigest()[:12]


async def create(
    conn: AsyncConnection, *, holder: str, township: str | None, kek: bytes, now: datetime
) -> tuple[str, str]:
    """Store a new key; return its id and the only plaintext copy of its secret."""
    secret = secrets.token_urlsafe(32)  # producers use the text as given as their HMAC key
    key = ProducerKey(KEY_PREFIX + secrets.token_hex(6), holder, township, secret.encode("ascii"))
    if not await store(conn, key, kek, now):
        raise ConflictError(f"producer key {key.key_id} exists already; try again")
    return key.key_id, secret


async def store(conn: AsyncConnection, key: ProducerKey, kek: bytes, now: datetime) -> bool:
    """Keep `key` encrypted; False if its id is taken (the stored key is left as it is)."""
    assert key.secret is not None
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    result = await conn.execute(
        dialect.insert(producer_keys)
        .values(
            key_id=key.key_id,
            holder=key.holder,
            township=key.township,
            secret_encrypted=_seal(kek, key.key_id, key.secret),
            fingerprint=fingerprint(key.secret),
            created_at=now,
        )
        .on_conflict_do_nothing()
    )
    return bool(result.rowcount)


async def service_key(conn: AsyncConnection, kek: bytes, now: datetime) -> ProducerKey:
    """The service's own county-wide key, created on first use (replicas racing agree on one)."""
    raw = secrets.token_urlsafe(32).encode("ascii")
    await store(conn, ProducerKey(SERVICE_KEY_ID, "县级接口 / the service's HTTP API", None, raw), kek, now)
    key = (await load(conn, kek)).get(SERVICE_KEY_ID)
    if key is None or key.secret is None:
        raise SettingsError(f"producer key {SERVICE_KEY_ID} was revoked; the service cannot sign")
    return key


async def load(conn: AsyncConnection, kek: bytes) -> dict[str, ProducerKey]:
    """Every key by id; revoked keys without their secret."""
    rows = await conn.execute(select(producer_keys))
    found: dict[str, ProducerKey] = {}
    for row in rows:
        secret = None if row.revoked_at else _open(kek, row.key_id, row.secret_encrypted)
        found[row.key_id] = ProducerKey(row.key_id, row.holder, row.township, secret, row.revoked_at)
    return found


async def list_all(conn: AsyncConnection) -> list[dict[str, object]]:
    """Every key's id, holder, scope and state; never the secret."""
    rows = await conn.execute(
        select(
            producer_keys.c.key_id,
            producer_keys.c.holder,
            producer_keys.c.township,
            producer_keys.c.fingerprint,
            producer_keys.c.created_at,
            producer_keys.c.revoked_at,
        ).order_by(producer_keys.c.created_at, producer_keys.c.key_id)
    )
    return [dict(r._mapping) for r in rows]


async def revoke(conn: AsyncConnection, key_id: str, now: datetime) -> bool:
    """Revoke a key: the consumers refuse its messages once they reload their keys (within a minute)."""
    if key_id == SERVICE_KEY_ID:
        raise CommandError(f"{SERVICE_KEY_ID} is the service's own key and cannot be revoked")
    result = await conn.execute(
        producer_keys.update()
        .where(producer_keys.c.key_id == key_id, producer_keys.c.revoked_at.is_(None))
        .values(revoked_at=now, secret_encrypted="")  # the secret is gone, not only disabled
    )
    return bool(result.rowcount)
