"""Reviews of accountability entries: what decisions a reviewer may make on an entry, and the view
derived from them: an entry's current status (pending, confirmed, waived) and effective kind come from
its latest review.

Two roles review: the information section (信息科, the first to know the facts) and the auditors, whose
later review supersedes the section's like any other; each review records the role it was made in."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from alerting.accountability.append import append_review
from alerting.domain import (
    BOOKKEEPING_KINDS,
    RECLASSIFY_TO,
    EntryKind,
    EntryStatus,
    ReviewDecision,
    Role,
    status_after,
)
from alerting.errors import ConflictError, NotFound
from alerting.storage.schema import accountability_entries as entries


@dataclass(frozen=True, slots=True)
class Review:
    decision: ReviewDecision
    reason: str
    to: str | None = None  # the finding, for a reclassification


def status_of(latest_review: dict[str, Any] | None) -> tuple[EntryStatus, str | None]:
    """(status, finding) from the latest review's details; the finding replaces the kind when set."""
    if latest_review is None:
        return EntryStatus.PENDING, None
    status = status_after(ReviewDecision(latest_review["decision"]))
    return status, (latest_review.get("to") if status is EntryStatus.CONFIRMED else None)


REVIEWERS = frozenset({Role.AUDITOR, Role.INFO_SECTION, Role.ADMIN})


async def review(
    conn: AsyncConnection, entry_id: int, decision: Review, reviewer: str, now: datetime, *, role: Role
) -> int:
    """Record a review of entry `entry_id` by `reviewer` acting as `role`; returns the review entry's id."""
    if role not in REVIEWERS:
        raise ConflictError(f"role {role.value} may not review entries")
    target = (await conn.execute(select(entries).where(entries.c.id == entry_id))).one_or_none()
    if target is None:
        raise NotFound(f"entry {entry_id} not found")
    kind = EntryKind(target.kind)
    if kind is EntryKind.REVIEW:
        raise ConflictError("a review is not itself reviewed; review the entry it decided")
    if kind in BOOKKEEPING_KINDS:
        raise ConflictError(
            f"a {kind.value} entry is the log's bookkeeping, not a finding: nothing to review"
        )
    if not decision.reason.strip():
        raise ConflictError("a review needs a reason")
    if decision.decision is ReviewDecision.RECLASSIFY:
        allowed = RECLASSIFY_TO.get(kind, frozenset())
        if decision.to not in allowed:
            options = ", ".join(sorted(allowed)) or "none"
            raise ConflictError(f"{kind.value} can be reclassified as: {options}")
    elif decision.to is not None:
        raise ConflictError("`to` is only for a reclassification")
    return await append_review(
        conn,
        target,
        decision.decision,
        decision.reason.strip(),
        reviewer,
        now,
        to=decision.to,
        reviewer_role=role.value,
    )
