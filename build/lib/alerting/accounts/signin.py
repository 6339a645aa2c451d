"""Signing in with a password, slowed and then locked after repeated failures, and changing it.

After the n-th wrong password in a row (n ≥ 2) the next attempt is refused, unchecked and uncounted,
until 2^(n-1) seconds have passed since that failure (2 s, 4 s, 8 s, ...); the policy's
`accounts.lock_after_failures`-th failure locks the account until an admin unlocks it.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Row, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from alerting.accounts import oplog, passwords, sessions
from alerting.accounts.users import Account, get
from alerting.errors import ConflictError
from alerting.policy.model import Policy
from alerting.storage.engine import reading
from alerting.storage.schema import users


class Outcome(enum.Enum):
    OK = "ok"
    WRONG = "wrong"  # unknown user or wrong password: the same answer
    WAIT = "wait"
    LOCKED = "locked"
    DISABLED = "disabled"


@dataclass(frozen=True, slots=True)
class Attempt:
    outcome: Outcome
    account: Account | None = None
    token: str | None = None  # the new session's cookie value, on OK
    wait_s: int = 0  # on WAIT (and after a WRONG: how long before the next try)


def wait_after(failures: int) -> timedelta:
    """How long after the last failure the next attempt must wait, for `failures` in a row."""
    return timedelta(seconds=2 ** (failures - 1)) if failures >= 2 else timedelta(0)


def _seconds(delta: timedelta) -> int:
    return max(1, math.ceil(delta.total_seconds()))


async def sign_in(
    engine: AsyncEngine, policy: Policy, username: str, password: str, now: datetime
) -> Attempt:
    username = username.strip()[:50]
    async with reading(engine) as conn:
        row = (await conn.execute(select(users).where(users.c.username == username))).one_or_none()
    refused = _gate(row, now)
    if refused is not None:
        async with engine.begin() as conn:
            details = {"outcome": refused.outcome.value}
            await oplog.record(conn, at=now, actor=username, action="sign_in_refused", details=details)
        return refused
    ok, rehashed = await passwords.verify(password, row.password_hash if row else None)
    async with engine.begin() as conn:
        if row is None:
            details = {"reason": "unknown_user"}
            await oplog.record(conn, at=now, actor=username, action="sign_in_failed", details=details)
            return Attempt(Outcome.WRONG)
        if not ok:
            return await _failed(conn, policy, row.id, username, now)
        if row.disabled_at is not None:  # said only to whoever knows the password
            return Attempt(Outcome.DISABLED)
        values: dict[str, object] = {"failed_sign_ins": 0, "last_failed_at": None, "last_sign_in_at": now}
        if rehashed:
            values["password_hash"] = rehashed
        await conn.execute(users.update().where(users.c.id == row.id).values(**values))
        token = await sessions.open_session(conn, row.id, now)
        await oplog.record(conn, at=now, actor=username, action="sign_in")
        return Attempt(Outcome.OK, await get(conn, username), token)


def _gate(row: Row[Any] | None, now: datetime) -> Attempt | None:
    """A refusal before the password is even checked: locked, or still in the wait."""
    if row is None:
        return None
    if row.locked_at is not None:
        return Attempt(Outcome.LOCKED)
    last = row.last_failed_at
    if last is not None and now < (until := last + wait_after(row.failed_sign_ins)):
        return Attempt(Outcome.WAIT, wait_s=_seconds(until - now))
    return None


async def _failed(
    conn: AsyncConnection, policy: Policy, user_id: int, username: str, now: datetime
) -> Attempt:
    await conn.execute(
        users.update()
        .where(users.c.id == user_id)
        .values(failed_sign_ins=users.c.failed_sign_ins + 1, last_failed_at=now)
    )
    failures = int(
        (await conn.execute(select(users.c.failed_sign_ins).where(users.c.id == user_id))).scalar_one()
    )
    await oplog.record(conn, at=now, actor=username, action="sign_in_failed", details={"failures": failures})
    if failures >= policy.accounts.lock_after_failures:
        await conn.execute(users.update().where(users.c.id == user_id).values(locked_at=now))
        await oplog.record(conn, at=now, actor=username, action="locked", details={"failures": failures})
        return Attempt(Outcome.LOCKED)
    return Attempt(Outcome.WRONG, wait_s=int(wait_after(failures).total_seconds()))


async def change_password(
    engine: AsyncEngine, session: sessions.Session, current: str, new: str, now: datetime
) -> None:
    """Replace the password (a temporary one included); other sessions of the account end."""
    account = session.account
    passwords.check_new(new, account.username)
    if new == current:
        raise ConflictError("新密码不能与当前密码相同 / the new password must differ from the current one")
    async with reading(engine) as conn:
        stored = (
            await conn.execute(select(users.c.password_hash).where(users.c.id == account.id))
        ).scalar_one()
    ok, _ = await passwords.verify(current, stored)
    if not ok:
        raise ConflictError("当前密码不正确 / the current password is wrong")
    hashed = await passwords.hash_password(new)
    async with engine.begin() as conn:
        await conn.execute(
            users.update()
            .where(users.c.id == account.id)
            .values(password_hash=hashed, must_change_password=False)
        )
        ended = await sessions.revoke_others(conn, account.id, session.token_hash, now)
        details = {"was_temporary": account.must_change_password, "other_sessions_ended": ended}
        await oplog.record(
            conn,
            at=now,
            actor=account.username,
            action="password_changed",
            target=account.username,
            details=details,
        )
