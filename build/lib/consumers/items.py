"""Intake of routine items (日常信息): store a version, in the caller's transaction, with no urgent
clocks. An item may answer an assignment (约稿) given to its township, and so meet it. A new item
starts at version 1; a township may send a new version of an item that is
awaiting review or was returned, never of one adopted or filed. The item still counts for the
township's duties: it ends a silence and may meet a periodic duty (重点项目, 社情民意)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from alerting.domain import ITEM_STATUS_ZH, ItemStatus, RoutineItem
from alerting.errors import InvalidReport
from alerting.policy.model import Policy
from alerting.storage.schema import item_events, item_versions, items
from consumers.intake import IntakeResult, Outcome
from escalation import arming, assignments, duties

OPEN_TO_REVISION = (ItemStatus.SUBMITTED.value, ItemStatus.RETURNED.value)


async def store_item(conn: AsyncConnection, item: RoutineItem, policy: Policy, now: datetime) -> IntakeResult:
    """Idempotent on submission_id; InvalidReport (nothing written) when it cannot be accepted."""
    owner = (
        await conn.execute(
            select(item_versions.c.item_id).where(item_versions.c.submission_id == item.submission_id)
        )
    ).scalar_one_or_none()
    if owner is not None:
        if owner != item.item_id:
            raise InvalidReport(f"submission_id {item.submission_id} already belongs to item {owner}")
        return IntakeResult(Outcome.DUPLICATE)
    await _check(conn, item, policy)
    current = (await conn.execute(select(items).where(items.c.id == item.item_id))).one_or_none()
    if current is None:
        version = 1
        await conn.execute(items.insert().values(**_item_values(item, policy), version=1))
    else:
        version = await _revise(conn, current, item, policy)
    await conn.execute(item_versions.insert().values(**_version_values(item, version, now)))
    await conn.execute(
        item_events.insert().values(
            item_id=item.item_id,
            version=version,
            kind="submitted",
            at=item.submitted_at,
            actor=item.township,
            details={"submission_id": item.submission_id, "reporter": item.reporter.name},
        )
    )
    late = 0
    for settled in [*await duties.on_report(conn, policy, item, now), *await assignments.on_item(conn, item)]:
        if settled.late_seconds is not None:
            late += 1
            await arming.record_late(
                conn,
                settled,
                township=item.township,
                responsible=item.township,
                incident_id=None,
                report_id=None,
                arrived_at=item.submitted_at,
                details={"item_id": item.item_id, "version": version, "category": item.category},
                now=now,
            )
    return IntakeResult(Outcome.STORED, late)


async def _check(conn: AsyncConnection, item: RoutineItem, policy: Policy) -> None:
    if (refusal := policy.category_refusal(item.category, "routine")) is not None:
        raise InvalidReport(refusal)
    if not policy.in_directory(item.township):
        raise InvalidReport(f"township {item.township} is not in the policy's township directory")
    if item.assignment_id is not None:
        given = await assignments.given_to(conn, item.assignment_id)
        if given is None:
            raise InvalidReport(f"unknown assignment {item.assignment_id}")
        if item.township not in given:
            raise InvalidReport(f"assignment {item.assignment_id} was not given to {item.township}")


async def _revise(conn: AsyncConnection, current: Any, item: RoutineItem, policy: Policy) -> int:
    if current.township != item.township:
        raise InvalidReport(f"item {item.item_id} belongs to {current.township}, not {item.township}")
    if current.status not in OPEN_TO_REVISION:
        raise InvalidReport(
            f"item {item.item_id} was {current.status} ({ITEM_STATUS_ZH[current.status]}) by "
            f"{current.decided_by} at {current.decided_at.isoformat()}; it takes no new version"
        )
    version = int(current.version) + 1
    await conn.execute(
        items.update()
        .where(items.c.id == item.item_id)
        .values(
            category=item.category,
            title=item.title,
            is_problem=policy.is_problem(item.category, item.is_problem),
            status=ItemStatus.SUBMITTED.value,
            version=version,
            updated_at=item.submitted_at,
            decided_at=None,
            decided_by=None,
            reason=None,
        )
    )
    return version


def _item_values(item: RoutineItem, policy: Policy) -> dict[str, Any]:
    return {
        "id": item.item_id,
        "township": item.township,
        "category": item.category,
        "title": item.title,
        "assignment_id": item.assignment_id,
        "is_problem": policy.is_problem(item.category, item.is_problem),
        "status": ItemStatus.SUBMITTED.value,
        "submitted_at": item.submitted_at,
        "updated_at": item.submitted_at,
    }


def _version_values(item: RoutineItem, version: int, now: datetime) -> dict[str, Any]:
    return {
        "item_id": item.item_id,
        "version": version,
        "submission_id": item.submission_id,
        "title": item.title,
        "text": item.text,
        "attachments": list(item.attachments),
        "reporter_name": item.reporter.name,
        "reporter_phone": item.reporter.phone,
        "submitted_at": item.submitted_at,
        "stored_at": now,
        "provenance": item.provenance.value,
        "producer_key": item.producer_key,
    }
