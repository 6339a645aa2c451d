"""The operations log (操作日志): who did what to what, written in the transaction of the act."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from alerting.storage.schema import operations

ACTION_ZH = {
    "sign_in": "登录",
    "sign_in_failed": "登录失败",
    "sign_in_refused": "登录被拒（等待中/已锁定/已停用）",
    "locked": "账户锁定",
    "sign_out": "退出",
    "password_changed": "修改密码",
    "user_created": "新建用户",
    "user_unlocked": "解锁",
    "password_reset": "重置密码",
    "user_disabled": "停用",
    "sessions_revoked": "注销会话",
    "token_created": "创建接口令牌",
    "token_revoked": "吊销接口令牌",
    "channel_tested": "发送测试消息",
    # 信息审核、问责审核与问责记录 (the information section's and auditors' pages)
    "item_decided": "日常信息审核",
    "item_forwarded": "日常信息上报",
    "entry_reviewed": "问责审核",
    "entries_exported": "导出问责记录",
    "chain_verified": "链校验",
    # The township's acts on its pages (alerting/web/township.py, report_form.py, item_form.py).
    "report_submitted": "报送紧急信息",
    "item_submitted": "报送日常信息",
    "notice_read": "签收通报",
    # The duty officers' acts on incidents (值班看板, 事件页)
    "incident_acknowledged": "签收事件",
    "incident_closed": "办结事件",
    "incident_forwarded": "上报市委办",
    # 信息科日常工作 (alerting/web/register.py, followups.py, assignments.py, officers.py, roster.py,
    # notices_sent.py)
    "incident_registered": "登记事件",
    "assignment_created": "约稿",
    "officer_registered": "信息员备案",
    "officer_term_ended": "信息员离任备案",
    "shift_added": "新增班次（调班）",
    "shift_withdrawn": "撤销班次",
    "roster_imported": "导入值班表",
    "post_set": "设置岗位",
    "notice_sent": "发送通报",
}
PAGE_SIZE = 50


async def record(
    conn: AsyncConnection,
    *,
    at: datetime,
    actor: str,
    action: str,
    target: str = "",
    details: dict[str, Any] | None = None,
) -> None:
    if action not in ACTION_ZH:
        raise ValueError(f"unknown operation {action!r}")
    await conn.execute(
        operations.insert().values(
            at=at, actor=actor[:100], action=action, target=target[:100], details=details or {}
        )
    )


@dataclass(frozen=True, slots=True)
class Page:
    rows: list[dict[str, Any]]
    total: int
    page: int
    pages: int


async def page_of(
    conn: AsyncConnection, *, actor: str | None = None, action: str | None = None, page: int = 1
) -> Page:
    """Newest first, PAGE_SIZE a page, filtered by who acted and what they did."""
    where = []
    if actor:
        where.append(operations.c.actor == actor)
    if action:
        where.append(operations.c.action == action)
    total = (await conn.execute(select(func.count()).select_from(operations).where(*where))).scalar_one()
    pages = max(1, -(-total // PAGE_SIZE))
    page = min(max(1, page), pages)
    rows = await conn.execute(
        select(operations)
        .where(*where)
        .order_by(operations.c.id.desc())
        .limit(PAGE_SIZE)
        .offset((page - 1) * PAGE_SIZE)
    )
    return Page([dict(r._mapping) for r in rows], total, page, pages)


async def actors(conn: AsyncConnection) -> list[str]:
    """Everyone who appears in the log, for the filter's choices."""
    rows = await conn.execute(select(operations.c.actor).distinct().order_by(operations.c.actor))
    return [str(r) for r in rows.scalars()]
