"""Accounts as an admin manages them: create, list, unlock, reset a password, disable, sign out
everywhere. Each act writes its entry in the operations log in the same transaction."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Row, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from alerting.accounts import oplog, passwords
from alerting.domain import Role
from alerting.errors import ConflictError, NotFound
from alerting.policy.model import Policy
from alerting.storage.schema import users, web_sessions

USERNAME = re.compile(r"[\w.@-]{2,50}")  # \w admits Chinese names too
ROLE_ZH = {
    Role.TOWNSHIP: "乡镇",
    Role.DUTY_OFFICER: "值班员",
    Role.INFO_SECTION: "信息科",
    Role.AUDITOR: "审计",
    Role.ADMIN: "管理员",
}


@dataclass(frozen=True, slots=True)
class Account:
    id: int
    username: str
    display_name: str
    role: Role
    township: str | None
    must_change_password: bool
    failed_sign_ins: int
    last_failed_at: datetime | None
    locked_at: datetime | None
    disabled_at: datetime | None
    last_sign_in_at: datetime | None
    created_by: str
    created_at: datetime

    @property
    def role_zh(self) -> str:
        return ROLE_ZH[self.role]

    @classmethod
    def of(cls, row: Row[Any] | Any) -> Account:
        m = row._mapping
        return cls(
            id=m["id"],
            username=m["username"],
            display_name=m["display_name"],
            role=Role(m["role"]),
            township=m["township"],
            must_change_password=bool(m["must_change_password"]),
            failed_sign_ins=m["failed_sign_ins"],
            last_failed_at=m["last_failed_at"],
            locked_at=m["locked_at"],
            disabled_at=m["disabled_at"],
            last_sign_in_at=m["last_sign_in_at"],
            created_by=m["created_by"],
            created_at=m["created_at"],
        )


ACCOUNT_COLUMNS = [c for c in users.c if c.name != "password_hash"]


async def find(conn: AsyncConnection, username: str) -> Account | None:
    row = (await conn.execute(select(*ACCOUNT_COLUMNS).where(users.c.username == username))).one_or_none()
    return Account.of(row) if row else None


async def get(conn: AsyncConnection, username: str) -> Account:
    found = await find(conn, username)
    if found is None:
        raise NotFound(f"用户 {username} 不存在 / no user {username}")
    return found


async def list_all(conn: AsyncConnection) -> list[Account]:
    rows = await conn.execute(select(*ACCOUNT_COLUMNS).order_by(users.c.id))
    return [Account.of(r) for r in rows]


async def count_admins(conn: AsyncConnection) -> int:
    query = select(func.count()).where(users.c.role == Role.ADMIN.value, users.c.disabled_at.is_(None))
    return int((await conn.execute(query)).scalar_one())


def _check_identity(policy: Policy, username: str, role: Role, township: str | None) -> None:
    if not USERNAME.fullmatch(username):
        raise ConflictError(
            "用户名为 2～50 个字母、数字、汉字或 . _ @ - / a username is 2 to 50 letters, digits, . _ @ -"
        )
    if role is Role.TOWNSHIP:
        if not township:
            raise ConflictError("乡镇用户须指定乡镇 / a township user needs a township")
        if not policy.in_directory(township):
            raise ConflictError(f"乡镇 {township} 不在名录中 / {township} is not in the policy's directory")
    elif township:
        raise ConflictError("只有乡镇用户绑定乡镇 / only a township user takes a township")


async def create(
    conn: AsyncConnection,
    policy: Policy,
    *,
    username: str,
    display_name: str,
    role: Role,
    township: str | None,
    by: str,
    now: datetime,
) -> tuple[Account, str]:
    """A new account and its temporary password (the only copy), to be changed at first sign-in."""
    username, display_name = username.strip(), display_name.strip() or username.strip()
    township = (township or "").strip() or None
    _check_identity(policy, username, role, township)
    if len(display_name) > 50:
        raise ConflictError("姓名最多 50 个字符 / a name has at most 50 characters")
    if await find(conn, username) is not None:
        raise ConflictError(f"用户名 {username} 已存在 / username {username} is taken")
    temporary = passwords.temporary()
    await conn.execute(
        users.insert().values(
            username=username,
            display_name=display_name,
            role=role.value,
            township=township,
            password_hash=await passwords.hash_password(temporary),
            must_change_password=True,
            failed_sign_ins=0,
            created_by=by,
            created_at=now,
        )
    )
    details = {"role": role.value, "township": township, "display_name": display_name}
    await oplog.record(conn, at=now, actor=by, action="user_created", target=username, details=details)
    return await get(conn, username), temporary


async def unlock(conn: AsyncConnection, username: str, *, by: str, now: datetime) -> Account:
    """Clear a lock and the count of failed sign-ins."""
    found = await get(conn, username)
    await conn.execute(
        users.update()
        .where(users.c.id == found.id)
        .values(locked_at=None, failed_sign_ins=0, last_failed_at=None)
    )
    details = {"was_locked_at": found.locked_at.isoformat() if found.locked_at else None}
    await oplog.record(conn, at=now, actor=by, action="user_unlocked", target=username, details=details)
    return await get(conn, username)


async def reset_password(conn: AsyncConnection, username: str, *, by: str, now: datetime) -> str:
    """A new temporary password (returned once); unlocks, and signs the account out everywhere."""
    found = await get(conn, username)
    temporary = passwords.temporary()
    await conn.execute(
        users.update()
        .where(users.c.id == found.id)
        .values(
            password_hash=await passwords.hash_password(temporary),
            must_change_password=True,
            locked_at=None,
            failed_sign_ins=0,
            last_failed_at=None,
        )
    )
    revoked = await _revoke_all(conn, found.id, now)
    details = {"sessions_revoked": revoked}
    await oplog.record(conn, at=now, actor=by, action="password_reset", target=username, details=details)
    return temporary


async def disable(conn: AsyncConnection, username: str, *, by: str, now: datetime) -> Account:
    """Nobody signs in as this account again; its sessions end now. The account and its log stay."""
    found = await get(conn, username)
    if found.disabled_at is not None:
        raise ConflictError(f"用户 {username} 已停用 / {username} is already disabled")
    if found.role is Role.ADMIN and await count_admins(conn) <= 1:
        raise ConflictError("不能停用最后一个管理员 / the last admin cannot be disabled")
    await conn.execute(users.update().where(users.c.id == found.id).values(disabled_at=now))
    revoked = await _revoke_all(conn, found.id, now)
    details = {"sessions_revoked": revoked}
    await oplog.record(conn, at=now, actor=by, action="user_disabled", target=username, details=details)
    return await get(conn, username)


async def revoke_sessions(conn: AsyncConnection, username: str, *, by: str, now: datetime) -> int:
    """Sign the account out everywhere; returns how many sessions were open."""
    found = await get(conn, username)
    revoked = await _revoke_all(conn, found.id, now)
    details = {"sessions_revoked": revoked}
    await oplog.record(conn, at=now, actor=by, action="sessions_revoked", target=username, details=details)
    return revoked


async def _revoke_all(conn: AsyncConnection, user_id: int, now: datetime) -> int:
    result = await conn.execute(
        web_sessions.update()
        .where(web_sessions.c.user_id == user_id, web_sessions.c.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    return int(result.rowcount)
