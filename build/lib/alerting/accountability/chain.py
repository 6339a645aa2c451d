"""The chain itself: what an entry is, its hashed content, and the hash that links it to the one before."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from alerting.domain import EntryKind

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


def hashed_content(entry: NewEntry, recorded_at: datetime, prev_hash: str) -> dict[str, Any]:
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
    return hashed_content(entry, row.recorded_at, row.prev_hash)


def entry_hash(content: dict[str, Any]) -> str:
    """SHA-256 over a canonical JSON encoding (sorted keys, no whitespace, UTF-8)."""
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()
