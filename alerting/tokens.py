"""API tokens: random bearer secrets, stored only as SHA-256 digests, each bound to a role."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from alerting.domain import Role
from alerting.errors import ConflictError
from alerting.storage.schema import api_tokens

PREFIX = "alt_"


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling."""

    name: str
    role: Role
    township: str | None  # set for, and only for, township tokens


def digest(token: str) -> str:
    # Tokens carry 256 random bits, so a plain digest is enough; no slow hash is needed.
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


async def create(conn: AsyncConnection, *, name: str, role: Role, township: str | None, now: datetime) -> str:
    """Store a new token and return its only plaintext copy."""
    if (role is Role.TOWNSHIP) != bool(township):
        raise ConflictError("a township token needs --township, and only a township token takes one")
    token = PREFIX + secrets.token_urlsafe(32)
    await conn.execute(
        api_tokens.insert().values(
            name=name, token_hash=digest(token), role=role.value, township=township, created_at=now
        )
    )
    return token


class TokenCache:
    """Recently verified tokens, so intake keeps working through a database restart and does not
    query the database on every request. A revoked token stops working within `ttl`."""

    def __init__(self, ttl: timedelta = timedelta(minutes=5), size: int = 10_000) -> None:
        self._ttl = ttl
        self._size = size
        self._entries: dict[str, tuple[Principal, float]] = {}

    def clear(self) -> None:
        """Forget every token: one was revoked here, and this replica must stop accepting it now."""
        self._entries.clear()

    def get(self, token: str, now: float) -> Principal | None:
        hit = self._entries.get(digest(token))
        if hit is None or hit[1] < now:
            return None
        return hit[0]

    def put(self, token: str, principal: Principal, now: float) -> None:
        if len(self._entries) >= self._size:
            self._entries.clear()  # simple and bounded; a burst of misses costs one query each
        self._entries[digest(token)] = (principal, now + self._ttl.total_seconds())


async def authenticate(conn: AsyncConnection, token: str) -> Principal | None:
    row = (
        await conn.execute(
            select(api_tokens.c.name, api_tokens.c.role, api_tokens.c.township).where(
                api_tokens.c.token_hash == digest(token), api_tokens.c.revoked_at.is_(None)
            )
        )
    ).one_or_none()
    return Principal(row.name, Role(row.role), row.township) if row else None


async def list_all(conn: AsyncConnection) -> list[dict[str, object]]:
    """Every token's holder, role and state; never the secret (only its digest is stored anyway)."""
    rows = await conn.execute(
        select(
            api_tokens.c.id,
            api_tokens.c.name,
            api_tokens.c.role,
            api_tokens.c.township,
            api_tokens.c.created_at,
            api_tokens.c.revoked_at,
        ).order_by(api_tokens.c.id)
    )
    return [dict(r._mapping) for r in rows]


async def revoke(conn: AsyncConnection, token_id: int, now: datetime) -> bool:
    """Revoke a token; API replicas stop accepting it within their cache's lifetime (5 minutes)."""
    result = await conn.execute(
        api_tokens.update()
        .where(api_tokens.c.id == token_id, api_tokens.c.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    return bool(result.rowcount)
