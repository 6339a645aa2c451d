"""Verifying the log: walk the chain in order and report the first entry that is not what was written,
checking it also against the heads anchored outside the chain (published bulletins) and, when asked
to go on from the latest checkpoint, against the head that checkpoint recorded."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from alerting.accountability import scan
from alerting.accountability.chain import GENESIS_HASH
from alerting.accountability.checkpoints import Checkpoint, latest_checkpoint
from alerting.accountability.digest import reference_problem
from alerting.storage.schema import accountability_entries as entries
from alerting.storage.schema import bulletins

Scope = Literal["full", "since_checkpoint"]


@dataclass(frozen=True, slots=True)
class ChainReport:
    entries_checked: int  # entries walked (a run from a checkpoint: those after its head)
    intact: bool
    broken_at: int | None = None  # the first entry whose link or content does not verify
    problem: str | None = None  # "content changed", "link broken", "differs from bulletin …", …
    expected: str | None = None
    found: str | None = None
    last_hash: str | None = None  # intact: the hash of the newest entry (the chain's head)
    scope: Scope = "full"
    checkpoint: int | None = None  # the checkpoint entry the run went on from (None: from the start)
    verified_through: int | None = None  # intact: the id of the newest entry verified


_PROBLEMS_ZH = {"content changed": "内容被改动", "link broken": "链接断开"}
_ANCHORED_ZH = (
    (re.compile(r"differs from bulletin (\S+)"), "与通报 {} 记载的哈希不符"),
    (re.compile(r"entry missing \(anchored by bulletin (\S+)\)"), "记录缺失（通报 {} 记载了它）"),
    (re.compile(r"differs from checkpoint (\d+)"), "与第 {} 号校验检查点记载的哈希不符"),
    (re.compile(r"entry missing \(anchored by checkpoint (\d+)\)"), "记录缺失（第 {} 号校验检查点记载了它）"),
)


def problem_zh(problem: str | None) -> str:
    """A report's problem as users read it (the English text stays the machine-readable one)."""
    if not problem:
        return ""
    if problem in _PROBLEMS_ZH:
        return _PROBLEMS_ZH[problem]
    for pattern, text in _ANCHORED_ZH:
        if (match := pattern.fullmatch(problem)) is not None:
            return text.format(match.group(1))
    return problem


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


async def _entry(conn: AsyncConnection, entry_id: int) -> Any:
    return (await conn.execute(select(entries).where(entries.c.id == entry_id))).one_or_none()


async def verify_chain(
    conn: AsyncConnection, batch: int = scan.SEGMENT, *, since_checkpoint: bool = False
) -> ChainReport:
    """Walk the log in order; report the first entry that is not what was written, including entries
    removed from the end of the log before a bulletin that anchored them was published.

    since_checkpoint: start at the head the latest checkpoint recorded (that entry must still hold
    that hash), check the entries bulletins anchored before it one by one, and walk on from there;
    with no checkpoint yet, a full run. Memory holds one batch; rows are read from a stream and
    hashed in a worker thread (see scan.py), so the event loop serves requests meanwhile."""
    anchors = await _anchors(conn)
    start = await latest_checkpoint(conn) if since_checkpoint else None
    if start is None:
        return await _walk(conn, anchors, batch, 0, GENESIS_HASH, ChainReport(0, True))
    base = ChainReport(0, True, scope="since_checkpoint", checkpoint=start.entry_id)
    broken = await _before(conn, anchors, start, base)
    if broken is not None:
        return broken
    return await _walk(conn, anchors, batch, start.verified_through, start.verified_hash, base)


def _broken(
    base: ChainReport,
    checked: int,
    entry_id: int,
    problem: tuple[str, str | None, str | None],
    last_hash: str | None = None,
) -> ChainReport:
    what, expected, found = problem
    return ChainReport(
        checked,
        False,
        entry_id,
        what,
        expected,
        found,
        last_hash,
        scope=base.scope,
        checkpoint=base.checkpoint,
    )


async def _before(
    conn: AsyncConnection, anchors: dict[int, tuple[str, str]], start: Checkpoint, base: ChainReport
) -> ChainReport | None:
    """The entries a run from `start` does not walk but something outside it vouches for: those
    published bulletins anchored, then the checkpoint's head itself; the first one that is broken."""
    head = start.verified_through
    for entry_id in sorted(i for i in anchors if i < head):
        row = await _entry(conn, entry_id)
        expected, period = anchors[entry_id]
        if row is None:
            return _broken(
                base, 0, entry_id, (f"entry missing (anchored by bulletin {period})", expected, None)
            )
        problem = reference_problem(row, row.prev_hash, anchors)  # its link: a full run's part
        if problem is not None:
            return _broken(base, 0, entry_id, problem)
    row = await _entry(conn, head)
    label = f"checkpoint {start.entry_id}"
    if row is None:
        return _broken(base, 0, head, (f"entry missing (anchored by {label})", start.verified_hash, None))
    problem = reference_problem(row, row.prev_hash, anchors)
    if problem is not None and problem[0].startswith("differs from bulletin"):
        return _broken(base, 0, head, problem)  # a bulletin's anchor comes first, as in a walk
    if row.hash != start.verified_hash:
        return _broken(base, 0, head, (f"differs from {label}", start.verified_hash, row.hash))
    return None if problem is None else _broken(base, 0, head, problem)


async def _walk(
    conn: AsyncConnection,
    anchors: dict[int, tuple[str, str]],
    batch: int,
    after: int,
    previous: str,
    base: ChainReport,
) -> ChainReport:
    hashes = {entry_id: digest for entry_id, (digest, _) in anchors.items()}
    checked, last_id = 0, after
    while True:
        walked = await scan.walk(conn, last_id, previous, hashes, batch)
        checked += walked.checked
        if walked.last_id is not None:
            last_id, previous = walked.last_id, walked.last_hash
        if not walked.stopped:
            break
        # The fast path could not prove the next entry: the reference check decides, and says why.
        row = (
            await conn.execute(select(entries).where(entries.c.id > last_id).order_by(entries.c.id).limit(1))
        ).one()
        problem = reference_problem(row, previous, anchors)
        if problem is not None:
            return _broken(base, checked + 1, row.id, problem)
        checked, last_id, previous = checked + 1, row.id, row.hash
    missing = sorted(i for i in anchors if i > last_id)
    if missing:
        expected, period = anchors[missing[0]]
        problem = (f"entry missing (anchored by bulletin {period})", expected, None)
        return _broken(base, checked, missing[0], problem, last_hash=previous)
    return ChainReport(
        checked,
        True,
        last_hash=previous,
        scope=base.scope,
        checkpoint=base.checkpoint,
        verified_through=last_id or None,
    )
