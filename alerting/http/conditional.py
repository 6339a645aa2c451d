"""Conditional GETs (RFC 9110 §13.1.2): a view polled every few seconds answers 304 Not Modified while
what it would show is unchanged, so neither side renders or sends it again."""

from __future__ import annotations

import hashlib

import orjson
from fastapi import Request, Response

# The browser may keep the answer but must ask again each time (the board changes by the second).
CACHE_CONTROL = "private, no-cache"


def entity_tag(*parts: object) -> str:
    """A weak tag over what the answer depends on (its content version, the viewer, the view)."""
    body = orjson.dumps(parts, default=str, option=orjson.OPT_NON_STR_KEYS | orjson.OPT_SORT_KEYS)
    digest = hashlib.blake2b(body, digest_size=12).hexdigest()
    return f'W/"{digest}"'


def _opaque(tag: str) -> str:
    tag = tag.strip()
    return tag[2:] if tag.startswith("W/") else tag


def fresh(request: Request, tag: str) -> bool:
    """If-None-Match names `tag` (weak comparison, as for GET) or is "*"."""
    offered = request.headers.get("if-none-match")
    if not offered:
        return False
    if offered.strip() == "*":
        return True
    return _opaque(tag) in {_opaque(t) for t in offered.split(",")}


def not_modified(tag: str, headers: dict[str, str] | None = None) -> Response:
    return Response(status_code=304, headers={**(headers or {}), "ETag": tag, "Cache-Control": CACHE_CONTROL})


def tagged(response: Response, tag: str) -> Response:
    response.headers["ETag"] = tag
    response.headers["Cache-Control"] = CACHE_CONTROL
    return response
