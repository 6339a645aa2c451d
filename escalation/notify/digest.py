"""Digests: notifications for one channel that go together (due at the same moment, or kept waiting
by the channel's rate) are sent as one message listing each, with each person's own link.

A digest's payload is {"event": "digest", "text": header, "members": [ordinary payloads]}; the
integrations that take digests (the group robots) render it and say whether it `fits` their size
limit uncut. Each member keeps its own row, outcome and place on its incident's timeline; the
digest's key is derived from its members' keys, stored on them, and reused by every retry.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

DIGEST = "digest"
T = TypeVar("T")


def is_digest(payload: dict[str, Any]) -> bool:
    return payload.get("event") == DIGEST


def members(payload: dict[str, Any]) -> list[dict[str, Any]]:
    """The ordinary payloads a payload stands for: its members, or itself."""
    return list(payload.get("members") or ()) if is_digest(payload) else [payload]


def digest_key(keys: Iterable[str]) -> str:
    """The idempotency key of the digest of the notifications keyed `keys` (order does not matter)."""
    joined = "\n".join(sorted(keys)).encode("utf-8")
    return "digest:" + hashlib.sha256(joined).hexdigest()[:40]


def digest_payload(parts: Sequence[dict[str, Any]], key: str) -> dict[str, Any]:
    return {
        "event": DIGEST,
        "idempotency_key": key,
        "text": f"【紧急信息提醒·汇总】以下 {len(parts)} 项时限已过，请立即处理：",
        "text_en": f"{len(parts)} deadlines missed, listed below.",
        "members": list(parts),
    }


def summary(payload: dict[str, Any]) -> str:
    """A member's line in a digest: its short summary (older rows have none: their text)."""
    return str(payload.get("summary") or payload.get("text") or "")


def pack(
    items: Sequence[T],
    payload_of: Callable[[T], dict[str, Any]],
    key_of: Callable[[T], str],
    fits: Callable[[dict[str, Any]], bool],
) -> list[list[T]]:
    """`items` in order, in as few groups as `fits` allows, each rendered as one digest; an item
    too large to share a message goes alone (as an ordinary notification, cut as its integration
    cuts)."""
    groups: list[list[T]] = []
    current: list[T] = []
    for item in items:
        trial = [*current, item]
        if len(trial) == 1 or fits(
            digest_payload([payload_of(i) for i in trial], digest_key(map(key_of, trial)))
        ):
            current = trial
        else:
            groups.append(current)
            current = [item]
    if current:
        groups.append(current)
    return groups
