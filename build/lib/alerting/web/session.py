"""Who is signed in, as FastAPI dependencies of the pages: the session behind the cookie, the
first-sign-in password change, roles, and the CSRF check of every state-changing request."""

from __future__ import annotations

from urllib.parse import quote

from fastapi import Depends, Form, Header, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from alerting.accounts import sessions
from alerting.accounts.sessions import Session
from alerting.domain import Role
from alerting.http.context import ServiceContext, get_context
from alerting.web.security import SESSION_COOKIE
from alerting.web.templating import render

CSRF_REFUSED = (
    "请求未通过安全校验（缺少或错误的 CSRF 令牌），请刷新页面后重试。/ "
    "The request failed the CSRF check (token missing or wrong); reload the page and try again."
)


class PageRedirect(Exception):
    def __init__(self, location: str, *, forget_session: bool = False) -> None:
        super().__init__(location)
        self.location = location
        self.forget_session = forget_session


class PageRefused(Exception):
    """An HTML error page (403 by default) with a Chinese-then-English message."""

    def __init__(self, message: str, status: int = 403) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


def safe_next(target: str | None) -> str:
    """Only a path on this site: never //host or an absolute URL (an open redirect)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


async def optional_session(request: Request, ctx: ServiceContext = Depends(get_context)) -> Session | None:
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return None
    async with ctx.engine.begin() as conn:  # moves the session's last request to now
        return await sessions.resolve(conn, token, ctx.clock.now(), ctx.web.lifetime)


async def any_session(request: Request, session: Session | None = Depends(optional_session)) -> Session:
    """Signed in, whether or not the temporary password has been changed yet."""
    if session is None:
        here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        where = "/login" if here == "/" or request.method != "GET" else f"/login?next={quote(here)}"
        raise PageRedirect(where, forget_session=SESSION_COOKIE in request.cookies)
    return session


async def signed_in(session: Session = Depends(any_session)) -> Session:
    """Signed in with a password of one's own: a temporary one sends every page to /password."""
    if session.account.must_change_password:
        raise PageRedirect("/password")
    return session


async def acting(
    session: Session = Depends(any_session),
    csrf_token: str | None = Form(None),
    x_csrf_token: str | None = Header(None),
) -> Session:
    """A state-changing request: the session's synchronizer token in the form or the X-CSRF-Token
    header (htmx sends it from <body hx-headers>)."""
    if not session.csrf_ok(csrf_token or x_csrf_token):
        raise PageRefused(CSRF_REFUSED)
    return session


def allow(session: Session, *roles: Role) -> None:
    """Refuse the page to every role but these (and admin)."""
    role = session.account.role
    if role is not Role.ADMIN and role not in roles:
        raise PageRefused(
            f"您的角色（{session.account.role_zh}）无权访问此页面。/ "
            f"Your role ({role.value}) may not open this page."
        )


def redirect(location: str) -> RedirectResponse:
    return RedirectResponse(location, status_code=303)


async def on_redirect(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, PageRedirect)
    if request.headers.get("HX-Request"):
        response: Response = Response(status_code=200, headers={"HX-Redirect": exc.location})
    else:
        response = redirect(exc.location)
    if exc.forget_session:
        response.delete_cookie(SESSION_COOKIE, path="/")
    return response


async def on_refused(request: Request, exc: Exception) -> HTMLResponse:
    assert isinstance(exc, PageRefused)
    ctx: ServiceContext = request.app.state.context
    values = {"title": "无法完成", "message": exc.message, "session": None}
    return render(request, ctx, "error.html", values, status=exc.status)
