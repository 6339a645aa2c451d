"""API tokens: random bearer secrets, stored only as SHA-256 digests, each bound to a role."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime

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


async def authenticate(conn: AsyncConnection, token: str) -> Principal | None:
    row = (
        await conn.execute(
            select(api_tokens.c.name, api_tokens.c.role, api_tokens.c.township).where(
                api_tokens.c.token_hash == digest(token), api_tokens.c.revoked_at.is_(None)
            )
        )
    ).one_or_none()
    return Principal(row.name, Role(row.role), row.township) if row else None
