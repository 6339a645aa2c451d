"""Reports and row counts for the storage tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from alerting.domain import Level, Report, Reporter, ReportType
from alerting.storage.schema import metadata

# Microseconds on purpose: they must survive the round trip through both backends.
T0 = datetime(2026, 3, 1, 8, 0, 0, 123456, tzinfo=UTC)


def make_report(
    incident_id: str = "inc-1",
    *,
    report_id: str | None = None,
    township: str = "城关镇",
    type_: ReportType = ReportType.FIRST,
    level: Level = Level.II,
    known_at: datetime = T0,
    reported_at: datetime | None = None,
) -> Report:
    return Report(
        report_id=report_id or f"{incident_id}-{type_.value}",
        incident_id=incident_id,
        township=township,
        type=type_,
        category="安全生产",
        level=level,
        title=f"{township}某企业火情",
        summary="现场明火已扑灭，无人员伤亡。",
        occurred_at=known_at - timedelta(minutes=5),
        known_at=known_at,
        reported_at=reported_at or known_at + timedelta(minutes=1),
        reporter=Reporter("张三", "0791-88888888"),
    )


async def row_counts(conn: AsyncConnection) -> dict[str, int]:
    return {
        name: (await conn.execute(select(func.count()).select_from(table))).scalar_one()
        for name, table in metadata.tables.items()
    }
