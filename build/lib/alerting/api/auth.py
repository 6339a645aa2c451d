"""Bearer-token authentication and role checks as FastAPI dependencies."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from fastapi import Depends, HTTPException, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from alerting.domain import Role
from alerting.http.context import ServiceContext, get_context
from alerting.storage.engine import reading
from alerting.tokens import Principal, authenticate

_bearer = HTTPBearer(auto_error=False, description="API token from `alerting token create`")


async def current_principal(
    credentials: HTTPAuthorizationCredentials | None = Depends(_bearer),
    ctx: ServiceContext = Depends(get_context),
) -> Principal:
    if credentials is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "缺少令牌 / missing bearer token",
            headers={"WWW-Authenticate": "Bearer"},
        )
    now = time.monotonic()
    principal = ctx.tokens.get(credentials.credentials, now)
    if principal is None:
        async with reading(ctx.engine) as conn:
            principal = await authenticate(conn, credentials.credentials)
        if principal is not None:
            ctx.tokens.put(credentials.credentials, principal, now)
    if principal is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "令牌无效 / invalid or revoked token",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return principal


def require(*roles: Role) -> Callable[..., Awaitable[Principal]]:
    """A dependency admitting the given roles (admin is always admitted)."""
    allowed = {*roles, Role.ADMIN}

    async def check(principal: Principal = Depends(current_principal)) -> Principal:
        if principal.role not in allowed:
            raise HTTPException(
                status.HTTP_403_FORBIDDEN,
                f"角色 {principal.role.value} 无权访问 / role {principal.role.value} may not do this",
            )
        return principal

    return check
