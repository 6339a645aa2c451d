"""Signing in and out, changing one's password, and the landing page of each role."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, Response

from alerting.accounts import oplog, sessions, signin, users
from alerting.accounts.sessions import Session
from alerting.accounts.signin import Outcome
from alerting.domain import Role
from alerting.errors import ConflictError
from alerting.http.context import ServiceContext, get_context
from alerting.storage.engine import reading
from alerting.web.security import (
    PRE_SESSION_COOKIE,
    SESSION_COOKIE,
    new_nonce,
    sign_in_token,
    sign_in_token_ok,
)
from alerting.web.session import (
    CSRF_REFUSED,
    PageRefused,
    acting,
    any_session,
    redirect,
    safe_next,
    signed_in,
)
from alerting.web.templating import render

router = APIRouter(include_in_schema=False)

REFUSALS = {
    Outcome.WRONG: "用户名或密码错误。/ Wrong username or password.",
    Outcome.LOCKED: "账户已锁定（连续输错密码次数过多），请联系管理员解锁。/ "
    "The account is locked after too many wrong passwords; ask an admin to unlock it.",
    Outcome.DISABLED: "账户已停用，请联系管理员。/ The account is disabled; ask an admin.",
}


def _login_page(
    request: Request, ctx: ServiceContext, *, error: str = "", username: str = "", status: int = 200
) -> HTMLResponse:
    key = ctx.web.form_key()
    nonce = request.cookies.get(PRE_SESSION_COOKIE) or new_nonce()
    values = {
        "session": None,
        "error": error,
        "username": username,
        "next": safe_next(request.query_params.get("next")),
        "csrf_token": sign_in_token(key, nonce) if key else "",
    }
    response = render(request, ctx, "login.html", values, status=status)
    response.set_cookie(
        PRE_SESSION_COOKIE, nonce, httponly=True, samesite="lax", secure=ctx.web.secure_cookies, path="/"
    )
    return response


@router.get("/login", response_class=HTMLResponse)
async def login_form(request: Request, ctx: ServiceContext = Depends(get_context)) -> HTMLResponse:
    return _login_page(request, ctx)


@router.post("/login", response_class=HTMLResponse)
async def login(
    request: Request,
    username: str = Form("", max_length=200),
    password: str = Form("", max_length=200),
    csrf_token: str = Form(""),
    next: str = Form("/"),
    ctx: ServiceContext = Depends(get_context),
) -> Response:
    if not sign_in_token_ok(ctx.web.form_key(), request.cookies.get(PRE_SESSION_COOKIE), csrf_token):
        raise PageRefused(CSRF_REFUSED)
    attempt = await signin.sign_in(ctx.engine, ctx.policy, username, password, ctx.clock.now())
    if attempt.outcome is not Outcome.OK or attempt.token is None or attempt.account is None:
        if attempt.outcome is Outcome.WAIT:
            error = (
                f"尝试过于频繁，请 {attempt.wait_s} 秒后再试。/ Too many attempts; wait {attempt.wait_s} s."
            )
        else:
            error = REFUSALS[attempt.outcome]
            if attempt.wait_s:
                error += f" 请 {attempt.wait_s} 秒后再试。/ Next try in {attempt.wait_s} s."
        return _login_page(request, ctx, error=error, username=username.strip()[:50], status=401)
    target = "/password" if attempt.account.must_change_password else safe_next(next)
    response = redirect(target)
    # A new random session id at each sign-in: a cookie planted before sign-in is worth nothing.
    response.set_cookie(
        SESSION_COOKIE, attempt.token, httponly=True, samesite="lax", secure=ctx.web.secure_cookies, path="/"
    )
    response.delete_cookie(PRE_SESSION_COOKIE, path="/")
    return response


@router.post("/logout")
async def logout(session: Session = Depends(acting), ctx: ServiceContext = Depends(get_context)) -> Response:
    now = ctx.clock.now()
    async with ctx.engine.begin() as conn:
        await sessions.revoke(conn, session.token_hash, now)
        await oplog.record(conn, at=now, actor=session.account.username, action="sign_out")
    response = redirect("/login")
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.get("/password", response_class=HTMLResponse)
async def password_form(
    request: Request, session: Session = Depends(any_session), ctx: ServiceContext = Depends(get_context)
) -> HTMLResponse:
    return render(request, ctx, "password.html", {"session": session, "error": ""})


@router.post("/password", response_class=HTMLResponse)
async def change_password(
    request: Request,
    current: str = Form("", max_length=200),
    new: str = Form("", max_length=200),
    again: str = Form("", max_length=200),
    session: Session = Depends(acting),
    ctx: ServiceContext = Depends(get_context),
) -> Response:
    try:
        if new != again:
            raise ConflictError("两次输入的新密码不一致 / the two new passwords differ")
        await signin.change_password(ctx.engine, session, current, new, ctx.clock.now())
    except ConflictError as exc:
        values = {"session": session, "error": str(exc)}
        return render(request, ctx, "password.html", values, status=400)
    return redirect("/?changed=1")


@router.get("/", response_class=HTMLResponse)
async def landing(
    request: Request, session: Session = Depends(signed_in), ctx: ServiceContext = Depends(get_context)
) -> HTMLResponse:
    values: dict[str, object] = {"session": session, "changed": request.query_params.get("changed") == "1"}
    if session.account.role is Role.ADMIN:
        async with reading(ctx.engine) as conn:
            everyone = await users.list_all(conn)
        values["user_count"] = len(everyone)
        values["locked"] = [u for u in everyone if u.locked_at is not None and u.disabled_at is None]
        values["must_change"] = sum(1 for u in everyone if u.must_change_password and u.disabled_at is None)
    if session.account.role in (Role.ADMIN, Role.AUDITOR):
        async with reading(ctx.engine) as conn:
            values["recent"] = (await oplog.page_of(conn)).rows[:5]
    return render(request, ctx, "home.html", values)
