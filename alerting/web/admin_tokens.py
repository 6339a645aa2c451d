"""接口令牌: the admin's page of API tokens, the machines' credentials (a township's reporting system,
a dashboard). A new token is shown once; the database keeps only its digest. Each act is written to
the operations log with it."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Form, Path, Request
from fastapi.responses import HTMLResponse

from alerting import tokens
from alerting.accounts import oplog, users
from alerting.accounts.sessions import Session
from alerting.domain import Role
from alerting.errors import ConflictError
from alerting.http.context import ServiceContext, get_context
from alerting.storage.engine import reading
from alerting.web.session import acting, allow, signed_in
from alerting.web.templating import render

router = APIRouter(prefix="/admin/tokens", include_in_schema=False)


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
        held = await tokens.list_all(conn)
    values: dict[str, Any] = {
        "session": session,
        "tokens": [{**t, "role_zh": users.ROLE_ZH.get(Role(str(t["role"])), t["role"])} for t in held],
        "roles": [(role.value, zh) for role, zh in users.ROLE_ZH.items()],
        "townships": sorted(ctx.policy.townships),
        "notice": notice,
        "error": error,
        "secret": secret,  # the new token, shown this once
        "form": form or {},
    }
    return render(request, ctx, "admin_tokens.html", values, status=status)


@router.get("", response_class=HTMLResponse)
async def list_tokens(
    request: Request, session: Session = Depends(signed_in), ctx: ServiceContext = Depends(get_context)
) -> HTMLResponse:
    allow(session)
    return await _page(request, ctx, session)


@router.post("", response_class=HTMLResponse)
async def create_token(
    request: Request,
    name: str = Form("", max_length=100),
    role: str = Form("", max_length=32),
    township: str = Form("", max_length=100),
    session: Session = Depends(acting),
    ctx: ServiceContext = Depends(get_context),
) -> HTMLResponse:
    allow(session)
    await signed_in(session)
    form = {"name": name, "role": role, "township": township}
    now = ctx.clock.now()
    try:
        if not name.strip():
            raise ConflictError("请填写令牌名称（用途或对接系统）/ give the token a name")
        if role not in {r.value for r in Role}:
            raise ConflictError("请选择角色 / choose a role")
        town = township if role == Role.TOWNSHIP.value else None
        if town is not None and not ctx.policy.in_directory(town):
            raise ConflictError(f"{town} 不在乡镇名录中 / not in the township directory")
        async with ctx.engine.begin() as conn:
            token = await tokens.create(conn, name=name.strip(), role=Role(role), township=town, now=now)
            await oplog.record(
                conn,
                at=now,
                actor=session.account.username,
                action="token_created",
                target=name.strip(),
                details={"role": role, "township": town},
            )
    except ConflictError as exc:
        return await _page(request, ctx, session, error=str(exc), form=form, status=400)
    secret = {"name": name.strip(), "token": token}
    return await _page(request, ctx, session, notice=f"已创建令牌 {name.strip()}", secret=secret)


@router.post("/{token_id}/revoke", response_class=HTMLResponse)
async def revoke(
    request: Request,
    token_id: int = Path(ge=1, le=2**63 - 1),
    session: Session = Depends(acting),
    ctx: ServiceContext = Depends(get_context),
) -> HTMLResponse:
    allow(session)
    await signed_in(session)
    now = ctx.clock.now()
    async with ctx.engine.begin() as conn:
        done = await tokens.revoke(conn, token_id, now)
        if done:
            await oplog.record(
                conn, at=now, actor=session.account.username, action="token_revoked", target=str(token_id)
            )
    if not done:
        return await _page(
            request, ctx, session, error=f"令牌 {token_id} 不存在或已吊销 / not found or revoked", status=400
        )
    ctx.tokens.clear()  # this replica stops accepting it at once; others within their cache's lifetime
    return await _page(request, ctx, session, notice=f"已吊销令牌 {token_id}（其他副本 5 分钟内生效）")
