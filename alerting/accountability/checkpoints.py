"""Checkpoints: a verification of the chain recorded in the chain itself (the head it verified), so
that the next run need only go on from there; a full run still walks everything before it."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from alerting.accountability.append import append
from alerting.accountability.chain import NewEntry
from alerting.domain import EntryKind
from alerting.storage.schema import accountability_entries as entries

if TYPE_CHECKING:
    from alerting.accountability.verify import ChainReport

RESPONSIBLE = "system"
_HEX = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True, slots=True)
class Checkpoint:
    entry_id: int  # the checkpoint entry
    verified_through: int  # the id of the last entry that run verified
    verified_hash: str  # that entry's hash
    details: dict[str, Any]


async def latest_checkpoint(conn: AsyncConnection) -> Checkpoint | None:
    """The newest checkpoint entry; None when there is none, or when it does not read as one the
    service writes (then only a full run can say what is wrong)."""
    row = (
        await conn.execute(
            select(entries.c.id, entries.c.details)
            .where(entries.c.kind == EntryKind.CHECKPOINT.value)
            .order_by(entries.c.id.desc())
            .limit(1)
        )
    ).one_or_none()
    if row is None or not isinstance(row.details, dict):
        return None
    through, digest = row.details.get("verified_through"), row.details.get("verified_hash")
    if type(through) is not int or not 0 < through < row.id:
        return None
    if not isinstance(digest, str) or _HEX.fullmatch(digest) is None:
        return None
    return Checkpoint(row.id, through, digest, dict(row.details))


def checkpoint_entry(report: ChainReport, now: datetime) -> NewEntry:
    """The entry recording an intact verification `report`."""
    if not report.intact or report.verified_through is None or report.last_hash is None:
        raise ValueError("only an intact verification of at least one entry is recorded")
    return NewEntry(
        kind=EntryKind.CHECKPOINT,
        township=None,
        responsible=RESPONSIBLE,
        occurred_at=now,
        details={
            "verified_through": report.verified_through,
            "verified_hash": report.last_hash,
            "entries_checked": report.entries_checked,
            "scope": report.scope,
            "since": report.checkpoint,
        },
    )


async def record_checkpoint(conn: AsyncConnection, report: ChainReport, now: datetime) -> int:
    """Append the checkpoint of `report` inside the caller's transaction; its entry id."""
    return await append(conn, checkpoint_entry(report, now), now)


async def latest_full_checkpoint_at(conn: AsyncConnection) -> datetime | None:
    """When the newest checkpoint of a full run was recorded (None: no full run recorded yet)."""
    query = (
        select(entries.c.recorded_at)
        .where(entries.c.kind == EntryKind.CHECKPOINT.value, entries.c.details["scope"].as_string() == "full")
        .order_by(entries.c.id.desc())
        .limit(1)
    )
    value: datetime | None = (await conn.execute(query)).scalar_one_or_none()
    return value
