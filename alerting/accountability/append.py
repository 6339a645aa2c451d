"""Writing to the accountability log: an entry is appended inside the transaction of the state change
that caused it, hash-chained to the one before it, under one lock so that replicas take turns. A review
is an entry too: it points at the entry it decides, and nothing earlier is changed."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from alerting.accountability.chain import GENESIS_HASH, NewEntry, entry_hash, hashed_content
from alerting.domain import EntryKind, ReviewDecision, status_after
from alerting.storage import bulk
from alerting.storage.schema import accountability_entries as entries


async def lock_chain(conn: AsyncConnection) -> None:
    # SQLite transactions here are BEGIN IMMEDIATE, so writers are already serialised; on
    # PostgreSQL replicas must take turns at the tail of the chain.
    if conn.dialect.name == "postgresql":
        await conn.execute(text("SELECT pg_advisory_xact_lock(7281001)"))


async def append(conn: AsyncConnection, entry: NewEntry, recorded_at: datetime) -> int:
    """Append `entry` inside the caller's transaction (the one making the state change)."""
    [entry_id] = await append_many(conn, [entry], recorded_at)
    return entry_id


async def append_many(conn: AsyncConnection, new: Sequence[NewEntry], recorded_at: datetime) -> list[int]:
    """Append `new` in order under one lock and one tail read; their ids, ascending as the chain runs."""
    if not new:
        return []
    await lock_chain(conn)
    prev = (
        await conn.execute(select(entries.c.hash).order_by(entries.c.id.desc()).limit(1))
    ).scalar_one_or_none() or GENESIS_HASH
    rows: list[dict[str, Any]] = []
    for entry in new:
        content = hashed_content(entry, recorded_at, prev)
        digest = entry_hash(content)
        # The row is the hashed content with its times as datetimes, and the hash.
        rows.append({**content, "occurred_at": entry.occurred_at, "recorded_at": recorded_at, "hash": digest})
        prev = digest
    # Ids must ascend in chain order: verifiers walk the chain by id.
    return await bulk.insert_numbered(conn, entries, rows)


async def append_review(
    conn: AsyncConnection,
    target: Any,
    decision: ReviewDecision,
    reason: str,
    reviewer: str,
    now: datetime,
    to: str | None = None,
    *,
    reviewer_role: str,
) -> int:
    """Append a review of `target` (an entry row) by `reviewer` (acting as `reviewer_role`); returns
    the review entry's id.

    The caller has checked that the decision is allowed; this records it with the status it changes
    and the review it supersedes."""
    # Read the latest review under the chain's lock: a concurrent review must not be missed.
    await lock_chain(conn)
    previous = (
        await conn.execute(
            select(entries.c.id, entries.c.details)
            .where(and_(entries.c.kind == EntryKind.REVIEW.value, entries.c.refers_to == target.id))
            .order_by(entries.c.id.desc())
            .limit(1)
        )
    ).one_or_none()
    before = status_after(ReviewDecision(previous.details["decision"]) if previous else None)
    details: dict[str, Any] = {
        "decision": decision.value,
        "reason": reason,
        "reviewed_kind": target.kind,
        "status_before": before.value,
        "reviewer_role": reviewer_role,
    }
    if to:
        details["to"] = to
    if previous is not None:
        details["supersedes"] = previous.id
    return await append(
        conn,
        NewEntry(
            kind=EntryKind.REVIEW,
            township=target.township,
            responsible=reviewer,
            occurred_at=now,
            incident_id=target.incident_id,
            refers_to=target.id,
            details=details,
        ),
        now,
    )
