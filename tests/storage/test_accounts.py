"""Accounts on both backends: hashing, the slow-down and lock-out with exact counts, session expiry on
a fake clock at its exact boundaries, and the operations log as written."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from alerting.accounts import oplog, passwords, sessions, signin, users
from alerting.accounts.signin import Outcome
from alerting.clock import FakeClock
from alerting.domain import Role
from alerting.errors import ConflictError
from alerting.policy.model import Policy
from alerting.storage.schema import operations, web_sessions
from alerting.storage.schema import users as users_table
from tests.storage.factories import T0

LIFETIME = sessions.Lifetime(idle=timedelta(minutes=30), absolute=timedelta(hours=12))


async def _user(engine: AsyncEngine, policy: Policy, name: str = "zhang", role: Role = Role.TOWNSHIP) -> str:
    async with engine.begin() as conn:
        _, temporary = await users.create(
            conn,
            policy,
            username=name,
            display_name="张三",
            role=role,
            township="城关镇" if role is Role.TOWNSHIP else None,
            by="admin",
            now=T0,
        )
    return temporary


async def test_hash_and_verify() -> None:
    hashed = await passwords.hash_password("正确的密码 horse")
    assert hashed.startswith("$argon2id$") and "正确的密码" not in hashed
    assert (await passwords.verify("正确的密码 horse", hashed))[0] is True
    assert (await passwords.verify("正确的密码 horsE", hashed))[0] is False
    assert (await passwords.verify("anything", None))[0] is False  # an unknown user never matches
    temporary = passwords.temporary()
    assert len(temporary) == 14 and temporary.count("-") == 2


async def test_create_stores_a_hash_and_requires_a_change(engine: AsyncEngine, policy: Policy) -> None:
    temporary = await _user(engine, policy)
    async with engine.connect() as conn:
        row = (await conn.execute(select(users_table))).one()
        assert row.password_hash != temporary and row.must_change_password
        with pytest.raises(ConflictError, match="已存在"):
            await users.create(
                conn,
                policy,
                username="zhang",
                display_name="",
                role=Role.AUDITOR,
                township=None,
                by="admin",
                now=T0,
            )
        with pytest.raises(ConflictError, match="名录"):
            await users.create(
                conn,
                policy,
                username="li",
                display_name="",
                role=Role.TOWNSHIP,
                township="不存在镇",
                by="admin",
                now=T0,
            )
    attempt = await signin.sign_in(engine, policy, "zhang", temporary, T0)
    assert attempt.outcome is Outcome.OK and attempt.account is not None
    assert attempt.account.must_change_password and attempt.token


async def test_slow_down_then_lock_after_the_policy_number(engine: AsyncEngine, policy: Policy) -> None:
    assert policy.accounts.lock_after_failures == 5
    temporary = await _user(engine, policy)
    clock = FakeClock(T0)
    first = await signin.sign_in(engine, policy, "zhang", "wrong-1", clock.now())
    assert first.outcome is Outcome.WRONG and first.wait_s == 0  # one slip costs nothing
    second = await signin.sign_in(engine, policy, "zhang", "wrong-2", clock.now())
    assert second.outcome is Outcome.WRONG and second.wait_s == 2
    # Within the 2 s, even the right password is refused, unchecked and uncounted.
    await clock.advance(timedelta(seconds=1))
    early = await signin.sign_in(engine, policy, "zhang", temporary, clock.now())
    assert early.outcome is Outcome.WAIT and early.wait_s == 1
    await clock.advance(timedelta(seconds=1))  # exactly 2 s after the second failure: admitted
    third = await signin.sign_in(engine, policy, "zhang", "wrong-3", clock.now())
    assert third.outcome is Outcome.WRONG and third.wait_s == 4
    await clock.advance(timedelta(seconds=4))
    fourth = await signin.sign_in(engine, policy, "zhang", "wrong-4", clock.now())
    assert fourth.outcome is Outcome.WRONG and fourth.wait_s == 8
    await clock.advance(timedelta(seconds=8))
    fifth = await signin.sign_in(engine, policy, "zhang", "wrong-5", clock.now())
    assert fifth.outcome is Outcome.LOCKED
    await clock.advance(timedelta(days=1))
    assert (await signin.sign_in(engine, policy, "zhang", temporary, clock.now())).outcome is Outcome.LOCKED
    async with engine.connect() as conn:
        account = await users.get(conn, "zhang")
        assert account.failed_sign_ins == 5 and account.locked_at == T0 + timedelta(seconds=14)
    async with engine.begin() as conn:
        unlocked = await users.unlock(conn, "zhang", by="admin", now=clock.now())
    assert unlocked.locked_at is None and unlocked.failed_sign_ins == 0
    assert (await signin.sign_in(engine, policy, "zhang", temporary, clock.now())).outcome is Outcome.OK


async def test_session_idle_and_absolute_expiry(engine: AsyncEngine, policy: Policy) -> None:
    temporary = await _user(engine, policy)
    clock = FakeClock(T0)
    attempt = await signin.sign_in(engine, policy, "zhang", temporary, clock.now())
    assert attempt.token is not None
    token = attempt.token

    async def alive(touch: bool = True) -> bool:
        async with engine.begin() as conn:
            return await sessions.resolve(conn, token, clock.now(), LIFETIME, touch=touch) is not None

    await clock.advance(timedelta(minutes=29, seconds=59))
    assert await alive(touch=False)  # 29:59 idle: still valid
    await clock.advance(timedelta(seconds=1))
    assert not await alive()  # 30:00 idle: expired

    # Another session kept busy every 29 minutes ends 12 h after sign-in all the same.
    attempt = await signin.sign_in(engine, policy, "zhang", temporary, clock.now())
    assert attempt.token is not None
    token, started = attempt.token, clock.now()
    while clock.now() + timedelta(minutes=29) < started + timedelta(hours=12):
        await clock.advance(timedelta(minutes=29))
        assert await alive()
    await clock.set(started + timedelta(hours=12) - timedelta(seconds=1))
    assert await alive()  # 11:59:59 after sign-in
    await clock.set(started + timedelta(hours=12))
    assert not await alive()  # 12:00:00


async def test_requests_within_a_minute_are_not_written(engine: AsyncEngine, policy: Policy) -> None:
    temporary = await _user(engine, policy)
    attempt = await signin.sign_in(engine, policy, "zhang", temporary, T0)
    assert attempt.token is not None
    token = attempt.token

    async def seen(at: datetime) -> datetime | None:
        async with engine.begin() as conn:
            session = await sessions.resolve(conn, token, at, LIFETIME)
            stored = (await conn.execute(select(web_sessions.c.last_seen_at))).scalar_one()
        assert session is not None and session.last_seen_at == stored
        return stored

    # A board refreshed every 5 s: one write a minute, not twelve.
    assert [await seen(T0 + timedelta(seconds=s)) for s in (5, 30, 59, 60, 65)] == [
        T0,
        T0,
        T0,
        T0 + timedelta(seconds=60),
        T0 + timedelta(seconds=60),
    ]
    # Idle is counted from the record: 30:00 after it the session has ended, though a request came at
    # 1:05 (so never later than 30 minutes after the last request).
    async with engine.begin() as conn:
        alive = await sessions.resolve(conn, token, T0 + timedelta(minutes=31), LIFETIME)
    assert alive is None


async def test_revoked_and_disabled_sessions_end(engine: AsyncEngine, policy: Policy) -> None:
    temporary = await _user(engine, policy)
    await _user(engine, policy, "admin2", Role.ADMIN)
    tokens = [(await signin.sign_in(engine, policy, "zhang", temporary, T0)).token for _ in range(2)]
    async with engine.begin() as conn:
        assert await users.revoke_sessions(conn, "zhang", by="admin2", now=T0) == 2
        for token in tokens:
            assert token and await sessions.resolve(conn, token, T0, LIFETIME) is None
    token = (await signin.sign_in(engine, policy, "zhang", temporary, T0)).token
    assert token
    async with engine.begin() as conn:
        await users.disable(conn, "zhang", by="admin2", now=T0)
        assert await sessions.resolve(conn, token, T0, LIFETIME) is None
        with pytest.raises(ConflictError, match="最后一个管理员"):
            await users.disable(conn, "admin2", by="admin2", now=T0)
    assert (await signin.sign_in(engine, policy, "zhang", temporary, T0)).outcome is Outcome.DISABLED
    async with engine.connect() as conn:
        stored = (await conn.execute(select(web_sessions.c.token_hash))).scalars().all()
    assert all(len(h) == 64 and h not in tokens for h in stored)  # only digests are kept


async def test_operations_log_as_written(engine: AsyncEngine, policy: Policy) -> None:
    temporary = await _user(engine, policy)
    await signin.sign_in(engine, policy, "zhang", "wrong", T0)
    attempt = await signin.sign_in(engine, policy, "zhang", temporary, T0 + timedelta(seconds=1))
    assert attempt.token
    async with engine.begin() as conn:
        session = await sessions.resolve(conn, attempt.token, T0 + timedelta(seconds=1), LIFETIME)
    assert session is not None
    await signin.change_password(engine, session, temporary, "a-new-secret-1", T0 + timedelta(seconds=2))
    async with engine.begin() as conn:
        new_temporary = await users.reset_password(conn, "zhang", by="admin", now=T0 + timedelta(seconds=3))
    assert new_temporary != temporary
    async with engine.connect() as conn:
        rows = (await conn.execute(select(operations).order_by(operations.c.id))).all()
        written = [(r.at - T0, r.actor, r.action, r.target, r.details) for r in rows]
        assert written == [
            (
                timedelta(0),
                "admin",
                "user_created",
                "zhang",
                {"role": "township", "township": "城关镇", "display_name": "张三"},
            ),
            (timedelta(0), "zhang", "sign_in_failed", "", {"failures": 1}),
            (timedelta(seconds=1), "zhang", "sign_in", "", {}),
            (
                timedelta(seconds=2),
                "zhang",
                "password_changed",
                "zhang",
                {"was_temporary": True, "other_sessions_ended": 0},
            ),
            (timedelta(seconds=3), "admin", "password_reset", "zhang", {"sessions_revoked": 1}),
        ]
        page = await oplog.page_of(conn, actor="admin")
        assert [r["action"] for r in page.rows] == ["password_reset", "user_created"]  # newest first
        assert (page.total, page.pages) == (2, 1)
        assert (await oplog.page_of(conn, action="sign_in")).total == 1
    # Nothing in the log carries a password.
    assert not any(temporary in str(r) or "a-new-secret-1" in str(r) or new_temporary in str(r) for r in rows)
