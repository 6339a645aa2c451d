"""用户管理: the admin's page of accounts. Each act is a plain form (it works without JavaScript),
carries the session's CSRF token, and is written to the operations log with the act."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter, Depends, Form, Path, Request
from fastapi.responses import HTMLResponse
from sqlalchemy.ext.asyncio import AsyncConnection

from alerting.accounts import users
from alerting.accounts.sessions import Session
from alerting.domain import Role
from alerting.errors import ConflictError, NotFound
from alerting.http.context import ServiceContext, get_context
from alerting.storage.engine import reading
from alerting.web.session import acting, allow, signed_in
from alerting.web.templating import render

router = APIRouter(prefix="/admin/users", include_in_schema=False)
Username = Path(min_length=1, max_length=50)


async def _page(
    request: Request,
    ctx: ServiceContext,
    session: Session,
    *,
    notice: str = "",
    error: str = "",
    secret: dict[str, str] | None = None,
    form: dict[str, str] | None = None,
    status: int = 200,
) -> HTMLResponse:
    async with reading(ctx.engine) as conn:
        everyone = await users.list_all(conn)
    values: dict[str, Any] = {
        "session": session,
        "users": everyone,
        "roles": [(role.value, zh) for role, zh in users.ROLE_ZH.items()],
        "townships": sorted(ctx.policy.townships),
        "notice": notice,
        "error": error,
        "secret": secret,  # a temporary password, shown this once
        "form": form or {},
    }
    return render(request, ctx, "admin_users.html", values, status=status)


@router.get("", response_class=HTMLResponse)
async def list_users(
    request: Request, session: Session = Depends(signed_in), ctx: ServiceContext = Depends(get_context)
) -> HTMLResponse:
    allow(session)
    return await _page(request, ctx, session)


@router.post("", response_class=HTMLResponse)
async def create_user(
    request: Request,
    username: str = Form("", max_length=100),
    display_name: str = Form("", max_length=100),
    role: str = Form("", max_length=32),
    township: str = Form("", max_length=100),
    session: Session = Depends(acting),
    ctx: ServiceContext = Depends(get_context),
) -> HTMLResponse:
    allow(session)
    await signed_in(session)
    form = {"username": username, "display_name": display_name, "role": role, "township": township}
    try:
        if role not in {r.value for r in Role}:
            raise ConflictError("请选择角色 / choose a role")
        async with ctx.engine.begin() as conn:
            account, temporary = await users.create(
                conn,
                ctx.policy,
                username=username,
                display_name=display_name,
                role=Role(role),
                township=township if role == Role.TOWNSHIP.value else None,
                by=session.account.username,
                now=ctx.clock.now(),
            )
    except ConflictError as exc:
        return await _page(request, ctx, session, error=str(exc), form=form, status=400)
    secret = {"username": account.username, "password": temporary}
    return await _page(request, ctx, session, notice=f"已创建用户 {account.username}", secret=secret)


# An act on one account: (the notice to show, a new temporary password or None).
Act = Callable[[AsyncConnection, str, str], Awaitable[tuple[str, str | None]]]


async def _act(
    request: Request, ctx: ServiceContext, session: Session, username: str, act: Act
) -> HTMLResponse:
    allow(session)
    await signed_in(session)
    try:
        async with ctx.engine.begin() as conn:
            notice, temporary = await act(conn, username, session.account.username)
    except (ConflictError, NotFound) as exc:
        return await _page(request, ctx, session, error=str(exc), status=400)
    secret = {"username": username, "password": temporary} if temporary else None
    return await _page(request, ctx, session, notice=notice, secret=secret)


@router.post("/{username}/unlock", response_class=HTMLResponse)
async def unlock(
    request: Request,
    username: str = Username,
    session: Session = Depends(acting),
    ctx: ServiceContext = Depends(get_context),
) -> HTMLResponse:
    async def act(conn: AsyncConnection, name: str, by: str) -> tuple[str, str | None]:
        await users.unlock(conn, name, by=by, now=ctx.clock.now())
        return f"已解锁 {name}", None

    return await _act(request, ctx, session, username, act)


@router.post("/{username}/reset-password", response_class=HTMLResponse)
async def reset_password(
    request: Request,
    username: str = Username,
    session: Session = Depends(acting),
    ctx: ServiceContext = Depends(get_context),
) -> HTMLResponse:
    async def act(conn: AsyncConnection, name: str, by: str) -> tuple[str, str | None]:
        return f"已重置 {name} 的密码", await users.reset_password(conn, name, by=by, now=ctx.clock.now())

    return await _act(request, ctx, session, username, act)


@router.post("/{username}/disable", response_class=HTMLResponse)
async def disable(
    request: Request,
    username: str = Username,
    session: Session = Depends(acting),
    ctx: ServiceContext = Depends(get_context),
) -> HTMLResponse:
    async def act(conn: AsyncConnection, name: str, by: str) -> tuple[str, str | None]:
        await users.disable(conn, name, by=by, now=ctx.clock.now())
        return f"已停用 {name}，其会话已全部注销", None

    return await _act(request, ctx, session, username, act)


@router.post("/{username}/revoke-sessions", response_class=HTMLResponse)
async def revoke_sessions(
    request: Request,
    username: str = Username,
    session: Session = Depends(acting),
    ctx: ServiceContext = Depends(get_context),
) -> HTMLResponse:
    async def act(conn: AsyncConnection, name: str, by: str) -> tuple[str, str | None]:
        count = await users.revoke_sessions(conn, name, by=by, now=ctx.clock.now())
        return f"已注销 {name} 的 {count} 个会话", None

    return await _act(request, ctx, session, username, act)
