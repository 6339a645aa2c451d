"""The generated entries hash-chained with the product's own `hashed_content` and `entry_hash`, in id
order, each checkpoint given the hash of the entry it verified through; and the rows as each backend's
writer needs them."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

from alerting.accountability.chain import GENESIS_HASH, NewEntry, entry_hash, hashed_content
from alerting.domain import EntryKind
from alerting.storage.engine import json_text
from bench.audit_rows import when

KINDS: dict[str, Any] = {k.value: k for k in EntryKind}


class UnknownKind(str):
    """A kind the product's EntryKind does not have yet ("checkpoint", being added on another branch):
    hashed_content only reads `.value`."""

    __slots__ = ()

    @property
    def value(self) -> str:
        return str(self)


def kind_of(name: str) -> Any:
    return KINDS.get(name) or UnknownKind(name)


Hashed = tuple[tuple[Any, ...], dict[str, Any], str]  # (generated entry, hashed content, hash)


def chain(entries: Sequence[tuple[Any, ...]], prev: str = GENESIS_HASH) -> tuple[list[Hashed], str]:
    """Hash `entries` (ids ascending, continuing from the entry whose hash is `prev`); the hashed
    rows and the last hash."""
    out: list[Hashed] = []
    for e in entries:
        kind, township, incident_id, report_id, deadline_id, refers_to = e[1:7]
        responsible, occurred, recorded, delay, details = e[7:]
        if kind == "checkpoint":
            details["verified_hash"] = prev  # the hash of entry `verified_through`, just before it
        entry = NewEntry(
            kind=kind_of(kind),
            township=township,
            responsible=responsible,
            occurred_at=when(occurred),
            incident_id=incident_id,
            report_id=report_id,
            deadline_id=deadline_id,
            refers_to=refers_to,
            delay_seconds=delay,
            details=details,
        )
        content = hashed_content(entry, when(recorded), prev)
        prev = entry_hash(content)
        out.append((e, content, prev))
    return out, prev


def _copy_text(value: str) -> str:
    """PostgreSQL COPY text format: a backslash is the escape character (JSON has no raw tabs or
    newlines, so that is all there is to escape)."""
    return value.replace("\\", "\\\\")


def copy_lines(rows: Sequence[Hashed]) -> bytes:
    """accountability_entries rows (audit_rows.ENTRY_COLUMNS) in COPY text format. The times are the
    hashed content's (UTC ISO 8601), the details as the product's engine writes JSON (json_text)."""
    lines = []
    for e, c, digest in rows:
        fields = (
            str(e[0]),
            c["kind"],
            c["township"] or "\\N",
            c["incident_id"] or "\\N",
            c["report_id"] or "\\N",
            "\\N" if c["deadline_id"] is None else str(c["deadline_id"]),
            "\\N" if c["refers_to"] is None else str(c["refers_to"]),
            c["responsible"],
            c["occurred_at"],
            c["recorded_at"],
            "\\N" if c["delay_seconds"] is None else str(c["delay_seconds"]),
            _copy_text(json_text(c["details"])),
            c["prev_hash"],
            digest,
        )
        lines.append("\t".join(fields))
    lines.append("")
    return "\n".join(lines).encode()


def sqlite_time(at: datetime) -> str:
    """What the product's UTCDateTime stores on SQLite: naive UTC text with microseconds."""
    return at.isoformat(" ", "microseconds")[:26]


def sqlite_rows(rows: Sequence[Hashed]) -> list[tuple[Any, ...]]:
    out = []
    for e, c, digest in rows:
        out.append(
            (
                e[0],
                c["kind"],
                c["township"],
                c["incident_id"],
                c["report_id"],
                c["deadline_id"],
                c["refers_to"],
                c["responsible"],
                sqlite_time(when(e[8])),
                sqlite_time(when(e[9])),
                c["delay_seconds"],
                json_text(c["details"]),
                c["prev_hash"],
                digest,
            )
        )
    return out


def product_knows_checkpoints() -> bool:
    return "checkpoint" in {k.value for k in EntryKind}


@contextlib.contextmanager
def checkpoint_kind() -> Iterator[bool]:
    """While the product's EntryKind has no "checkpoint" (another branch adds it), register one for
    the duration, so that its verifier's `EntryKind(row.kind)` reads checkpoint entries; yields whether
    that was needed. Nothing else changes: the hashing is the product's."""
    if product_knows_checkpoints():
        yield False
        return
    member = str.__new__(EntryKind, "checkpoint")
    member._name_, member._value_ = "CHECKPOINT", "checkpoint"
    EntryKind._value2member_map_["checkpoint"] = member
    try:
        yield True
    finally:
        EntryKind._value2member_map_.pop("checkpoint", None)
