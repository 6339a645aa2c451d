"""Verifying the log: walk the chain in order and report the first entry that is not what was written,
checking it also against the heads that published bulletins anchored outside the chain."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from alerting.accountability.chain import GENESIS_HASH, content_of, entry_hash
from alerting.storage.schema import accountability_entries as entries
from alerting.storage.schema import bulletins


@dataclass(frozen=True, slots=True)
class ChainReport:
    entries_checked: int
    intact: bool
    broken_at: int | None = None  # the first entry whose link or content does not verify
    problem: str | None = None  # "content changed" or "link broken"
    expected: str | None = None
    found: str | None = None
    last_hash: str | None = None


async def chain_tail(conn: AsyncConnection) -> dict[str, Any]:
    """The newest entry's id and hash: published bulletins keep it, so a truncated log is caught."""
    row = (
        await conn.execute(select(entries.c.id, entries.c.hash).order_by(entries.c.id.desc()).limit(1))
    ).first()
    return {"entry_id": row.id if row else 0, "hash": row.hash if row else GENESIS_HASH}


async def _anchors(conn: AsyncConnection) -> dict[int, tuple[str, str]]:
    """entry id -> (hash, bulletin period) from every published bulletin's anchor."""
    found: dict[int, tuple[str, str]] = {}
    for row in await conn.execute(select(bulletins.c.period, bulletins.c.content)):
        anchor = row.content.get("chain_anchor") if isinstance(row.content, dict) else None
        if anchor and anchor.get("entry_id"):
            found[int(anchor["entry_id"])] = (str(anchor["hash"]), row.period)
    return found


def _check(
    rows: Sequence[Any], previous: str, anchors: dict[int, tuple[str, str]]
) -> tuple[ChainReport | None, str, int]:
    """Hash one batch (plain CPU work, run off the event loop): (the first break or None, the last
    verified hash, entries checked)."""
    checked = 0
    for row in rows:
        checked += 1
        if row.id in anchors and anchors[row.id][0] != row.hash:
            expected, period = anchors[row.id]
            return (
                ChainReport(checked, False, row.id, f"differs from bulletin {period}", expected, row.hash),
                previous,
                checked,
            )
        if row.prev_hash != previous:
            return (
                ChainReport(checked, False, row.id, "link broken", previous, row.prev_hash),
                previous,
                checked,
            )
        expected = entry_hash(content_of(row))
        if expected != row.hash:
            return (
                ChainReport(checked, False, row.id, "content changed", expected, row.hash),
                previous,
                checked,
            )
        previous = row.hash
    return None, previous, checked


async def verify_chain(conn: AsyncConnection, batch: int = 2000) -> ChainReport:
    """Walk the log in order; report the first entry that is not what was written, including entries
    removed from the end of the log before a bulletin that anchored them was published. Memory holds
    one batch; each batch is hashed in a worker thread, so the event loop serves requests meanwhile."""
    anchors = await _anchors(conn)
    previous = GENESIS_HASH
    checked = 0
    last_id = 0
    while True:
        rows = (
            await conn.execute(
                select(entries).where(entries.c.id > last_id).order_by(entries.c.id).limit(batch)
            )
        ).all()
        if not rows:
            missing = sorted(i for i in anchors if i > last_id)
            if missing:
                expected, period = anchors[missing[0]]
                return ChainReport(
                    checked,
                    False,
                    missing[0],
                    f"entry missing (anchored by bulletin {period})",
                    expected,
                    None,
                    previous,
                )
            return ChainReport(checked, True, last_hash=previous)
        broken, previous, done = await asyncio.to_thread(_check, rows, previous, anchors)
        if broken is not None:
            return replace(broken, entries_checked=checked + done)
        checked += done
        last_id = rows[-1].id
