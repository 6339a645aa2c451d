"""The accountability log: append-only, each entry hash-chained to the one before it."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from alerting.domain import EntryKind
from alerting.storage import bulk
from alerting.storage.schema import accountability_entries as entries

GENESIS_HASH = "0" * 64


@dataclass(frozen=True, slots=True)
class NewEntry:
    kind: EntryKind
    township: str | None
    responsible: str
    occurred_at: datetime
    incident_id: str | None = None
    report_id: str | None = None
    deadline_id: int | None = None
    refers_to: int | None = None
    delay_seconds: int | None = None
    details: dict[str, Any] = field(default_factory=dict)


def _content(entry: NewEntry, recorded_at: datetime, prev_hash: str) -> dict[str, Any]:
    return {
        "kind": entry.kind.value,
        "township": entry.township,
        "responsible": entry.responsible,
        # UTC, as the database returns it, so that a verifier can recompute the hash from the row.
        "occurred_at": entry.occurred_at.astimezone(UTC).isoformat(),
        "recorded_at": recorded_at.astimezone(UTC).isoformat(),
        "incident_id": entry.incident_id,
        "report_id": entry.report_id,
        "deadline_id": entry.deadline_id,
        "refers_to": entry.refers_to,
        "delay_seconds": entry.delay_seconds,
        "details": entry.details,
        "prev_hash": prev_hash,
    }


def content_of(row: Any) -> dict[str, Any]:
    """The hashed content of an entry read back from the database (what a verifier recomputes)."""
    entry = NewEntry(
        kind=EntryKind(row.kind),
        township=row.township,
        responsible=row.responsible,
        occurred_at=row.occurred_at,
        incident_id=row.incident_id,
        report_id=row.report_id,
        deadline_id=row.deadline_id,
        refers_to=row.refers_to,
        delay_seconds=row.delay_seconds,
        details=row.details,
    )
    return _content(entry, row.recorded_at, row.prev_hash)


def entry_hash(content: dict[str, Any]) -> str:
    """SHA-256 over a canonical JSON encoding (sorted keys, no whitespace, UTF-8)."""
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


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
        content = _content(entry, recorded_at, prev)
        digest = entry_hash(content)
        # The row is the hashed content with its times as datetimes, and the hash.
        rows.append({**content, "occurred_at": entry.occurred_at, "recorded_at": recorded_at, "hash": digest})
        prev = digest
    # Ids must ascend in chain order: verifiers walk the chain by id.
    return await bulk.insert_numbered(conn, entries, rows)
