"""Headers that every HTML page carries, and the sign-in form's CSRF token (before any session).

The Content-Security-Policy admits no inline script or style: every script and stylesheet is a file
under /static, so an injected <script> or style attribute does nothing.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Any

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
)
PAGE_HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"x-frame-options", b"DENY"),
]
SESSION_COOKIE = "alerting_session"
PRE_SESSION_COOKIE = "alerting_signin"  # a random nonce; the form carries its HMAC


class PageHeaders:
    """ASGI middleware: the security headers on every text/html response (the API's JSON is left as
    it was) and nosniff on the static files."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        static = scope["path"].startswith("/static/")

        async def sending(message: Any) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                kind = next((v for k, v in headers if k.lower() == b"content-type"), b"")
                if kind.startswith(b"text/html"):
                    headers.extend(PAGE_HEADERS)
                elif static:
                    headers.append((b"x-content-type-options", b"nosniff"))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, sending)


def new_nonce() -> str:
    return secrets.token_urlsafe(24)


def sign_in_token(key: bytes, nonce: str) -> str:
    return hmac.new(key, b"sign-in:" + nonce.encode(), hashlib.sha256).hexdigest()


def sign_in_token_ok(key: bytes | None, nonce: str | None, offered: str | None) -> bool:
    if not key or not nonce or not offered:
        return False
    return hmac.compare_digest(sign_in_token(key, nonce), offered)
