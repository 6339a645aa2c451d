"""Server-side sessions: the browser holds a random token, the database its SHA-256 and the state.

A session is valid while both hold: less than `idle` since its last recorded request, and less than
`absolute` since sign-in. At exactly 30:00 idle (the default) it has expired; at 29:59 it has not.
A request is recorded when the record is TOUCH_EVERY old or more, not on every request: a board
refreshed every 5 s would otherwise write to the database every 5 s per officer. So a session ends
between idle − TOUCH_EVERY and idle after its last request: never later.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from alerting.accounts.users import ACCOUNT_COLUMNS, Account
from alerting.storage.schema import users, web_sessions

TOUCH_EVERY = timedelta(minutes=1)


@dataclass(frozen=True, slots=True)
class Lifetime:
    idle: timedelta = timedelta(minutes=30)
    absolute: timedelta = timedelta(hours=12)


@dataclass(frozen=True, slots=True)
class Session:
    account: Account
    token_hash: str
    csrf_secret: str
    created_at: datetime
    last_seen_at: datetime

    def csrf_ok(self, offered: str | None) -> bool:
        return bool(offered) and hmac.compare_digest(offered or "", self.csrf_secret)


def digest(token: str) -> str:
    # 256 random bits: a plain digest suffices, as for API tokens.
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


async def open_session(conn: AsyncConnection, user_id: int, now: datetime) -> str:
    """A new session for the account; returns the token for the cookie (its only copy)."""
    token = secrets.token_urlsafe(32)
    await conn.execute(
        web_sessions.insert().values(
            token_hash=digest(token),
            user_id=user_id,
            created_at=now,
            last_seen_at=now,
            csrf_secret=secrets.token_urlsafe(32),
        )
    )
    return token


def expired(created_at: datetime, last_seen_at: datetime, now: datetime, lifetime: Lifetime) -> bool:
    return now - last_seen_at >= lifetime.idle or now - created_at >= lifetime.absolute


async def resolve(
    conn: AsyncConnection, token: str, now: datetime, lifetime: Lifetime, *, touch: bool = True
) -> Session | None:
    """The live session behind a cookie, its last request moved to `now` (`touch`, when the record is
    TOUCH_EVERY old); None when the token is unknown, revoked, expired, or its account disabled."""
    if not token or len(token) > 200:
        return None
    hashed = digest(token)
    row = (
        await conn.execute(
            select(
                *ACCOUNT_COLUMNS,
                web_sessions.c.csrf_secret,
                web_sessions.c.created_at.label("session_created_at"),
                web_sessions.c.last_seen_at,
            )
            .join(users, users.c.id == web_sessions.c.user_id)
            .where(web_sessions.c.token_hash == hashed, web_sessions.c.revoked_at.is_(None))
        )
    ).one_or_none()
    if row is None:
        return None
    created, seen = row.session_created_at, row.last_seen_at
    if expired(created, seen, now, lifetime) or row.disabled_at is not None:
        return None
    if touch and now - seen >= TOUCH_EVERY:
        await conn.execute(
            web_sessions.update().where(web_sessions.c.token_hash == hashed).values(last_seen_at=now)
        )
        seen = now
    return Session(Account.of(row), hashed, row.csrf_secret, created, seen)


async def revoke(conn: AsyncConnection, token_hash: str, now: datetime) -> None:
    await conn.execute(
        web_sessions.update()
        .where(web_sessions.c.token_hash == token_hash, web_sessions.c.revoked_at.is_(None))
        .values(revoked_at=now)
    )


async def revoke_others(conn: AsyncConnection, user_id: int, keep: str, now: datetime) -> int:
    result = await conn.execute(
        web_sessions.update()
        .where(
            web_sessions.c.user_id == user_id,
            web_sessions.c.token_hash != keep,
            web_sessions.c.revoked_at.is_(None),
        )
        .values(revoked_at=now)
    )
    return int(result.rowcount)
