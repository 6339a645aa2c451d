"""Store a batch of reports with a constant number of statements for the common case.

Most reports open a new incident on time. For a run of those, the batch reads what it needs once
(known report ids, incidents, open silence clocks), works out every row in memory, and writes them
with one statement per table. The first report that needs more (an existing incident, a late report,
a follow-up or final report, a periodic duty) ends the run: what was planned is written, that report
goes through `store_report`, and planning starts again from the database. The result is the same as
storing the reports one by one, in order.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from alerting.domain import DeadlineKind, DeadlineState, Report, ReportType, RoutineItem
from alerting.errors import InvalidReport
from alerting.policy.model import Policy
from alerting.storage import bulk
from alerting.storage.schema import deadlines, incidents, reports
from consumers.intake import IntakeResult, Outcome, incident_values, report_values, store_report
from consumers.items import store_item
from escalation import arming, duties, rules

Result = IntakeResult | InvalidReport
# Report types whose settling on a new incident is only "the first report is in".
_SIMPLE_TYPES = (ReportType.FIRST, ReportType.WRITTEN, ReportType.CORRECTION)


async def store_records(
    conn: AsyncConnection, batch: Sequence[Report | RoutineItem], policy: Policy, now: datetime
) -> list[Result]:
    """Store urgent reports and routine items in order; one result each. Runs of reports take the
    set-based path; routine items are few and go one by one."""
    results: list[Result] = []
    run: list[Report] = []
    for record in batch:
        if isinstance(record, Report):
            run.append(record)
            continue
        if run:
            results += await store_batch(conn, run, policy, now)
            run = []
        try:
            results.append(await store_item(conn, record, policy, now))
        except InvalidReport as exc:
            results.append(exc)
    if run:
        results += await store_batch(conn, run, policy, now)
    return results


async def store_batch(
    conn: AsyncConnection, batch: Sequence[Report], policy: Policy, now: datetime
) -> list[Result]:
    """Store `batch` in order inside the caller's transaction; one result per report."""
    results: list[Result] = []
    while len(results) < len(batch):
        if needs_full_path(batch[len(results)], policy):  # known without reading: skip planning
            results.append(await _store_one(conn, batch[len(results)], policy, now))
            continue
        plan = await _Plan.load(conn, batch[len(results) :], policy, now)
        results.extend(plan.run())
        await plan.write(conn)
        if len(results) < len(batch):
            results.append(await _store_one(conn, batch[len(results)], policy, now))
    return results


def needs_full_path(report: Report, policy: Policy) -> bool:
    """What rules a report out of the set-based path whatever the database holds."""
    return report.type not in _SIMPLE_TYPES or any(
        report.category in duty.categories for duty in policy.periodic
    )


async def _store_one(conn: AsyncConnection, report: Report, policy: Policy, now: datetime) -> Result:
    try:
        return await store_report(conn, report, policy, now)
    except InvalidReport as exc:  # raised before the report wrote anything
        return exc


@dataclass
class _Silence:
    """One open silence deadline of a township, as it will be after the run."""

    kind: str
    state: str
    due_at: datetime
    id: int | None = None  # None: planned in this run, not yet inserted
    row: dict[str, Any] = field(default_factory=dict)  # the insert, for planned rows
    changed: dict[str, Any] = field(default_factory=dict)  # the update, for existing rows


@dataclass
class _Plan:
    reports: Sequence[Report]
    policy: Policy
    now: datetime
    known: dict[str, str]  # report_id -> incident_id, stored already or earlier in this run
    incidents: set[str]  # incident ids that exist
    silence: dict[str, list[_Silence]]  # township -> its open silence deadlines
    latest: dict[str, datetime]  # township -> its latest stored report time
    new_incidents: list[dict[str, Any]] = field(default_factory=list)
    new_deadlines: list[dict[str, Any]] = field(default_factory=list)
    new_reports: list[dict[str, Any]] = field(default_factory=list)
    ended_silence: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    async def load(
        cls, conn: AsyncConnection, batch: Sequence[Report], policy: Policy, now: datetime
    ) -> _Plan:
        report_ids = {r.report_id for r in batch}
        incident_ids = {r.incident_id for r in batch}
        townships = {r.township for r in batch}
        known = await conn.execute(
            select(reports.c.report_id, reports.c.incident_id).where(reports.c.report_id.in_(report_ids))
        )
        found = await conn.execute(select(incidents.c.id).where(incidents.c.id.in_(incident_ids)))
        open_silence = await conn.execute(
            select(
                deadlines.c.id, deadlines.c.township, deadlines.c.kind, deadlines.c.state, deadlines.c.due_at
            )
            .where(
                deadlines.c.incident_id.is_(None),  # the partial duty index
                deadlines.c.township.in_(townships),
                deadlines.c.kind.in_([k.value for k in duties.SILENCE_KINDS]),
                deadlines.c.state.in_(arming.OPEN),
            )
            .order_by(deadlines.c.id)
        )
        silence: dict[str, list[_Silence]] = {t: [] for t in townships}
        for row in open_silence:
            silence[row.township].append(_Silence(row.kind, row.state, row.due_at, row.id))
        # One max() per township: each is a single index probe, where a GROUP BY would read
        # every report the township ever sent.
        ordered = sorted(townships)
        latest = (
            await conn.execute(
                select(
                    *(
                        select(func.max(reports.c.reported_at))
                        .where(reports.c.township == t)
                        .scalar_subquery()
                        for t in ordered
                    )
                )
            )
        ).one()
        return cls(
            batch,
            policy,
            now,
            known={r.report_id: r.incident_id for r in known},
            incidents={r.id for r in found},
            silence=silence,
            latest={t: at for t, at in zip(ordered, latest, strict=True) if at is not None},
        )

    def run(self) -> list[Result]:
        """Plan reports until one needs the full path; the results of those planned."""
        results: list[Result] = []
        for report in self.reports:
            result = self._plan(report)
            if result is None:
                break
            results.append(result)
        return results

    def _plan(self, report: Report) -> Result | None:
        owner = self.known.get(report.report_id)
        if owner is not None:
            if owner != report.incident_id:
                return InvalidReport(f"report_id {report.report_id} already belongs to incident {owner}")
            return IntakeResult(Outcome.DUPLICATE)
        policy = self.policy
        if (refusal := policy.category_refusal(report.category, "urgent")) is not None:
            return InvalidReport(refusal)
        if not policy.in_directory(report.township):
            return InvalidReport(f"township {report.township} is not in the policy's township directory")
        if report.incident_id in self.incidents or needs_full_path(report, policy):
            return None
        new = rules.initial_deadlines(report, policy.rules_for(report.level, report.category), policy.tz)
        met = {d.kind for d in new if rules.meets(report, d.kind) and d.kind is not DeadlineKind.FOLLOWUP}
        if any(rules.lateness(d.due_at, report.reported_at) for d in new if d.kind in met):
            return None  # a late report writes an accountability entry: the full path does that

        self.known[report.report_id] = report.incident_id
        self.incidents.add(report.incident_id)
        self.new_incidents.append(incident_values(report, self.now))
        for row in arming.incident_rows(report.incident_id, report.township, new, self.now):
            if row["kind"] in met:
                row.update(state=DeadlineState.MET.value, fire_at=None)
                row.update(met_at=report.reported_at, met_by=report.report_id)
            self.new_deadlines.append(row)
        self._restart_silence(report)
        self.new_reports.append({**report_values(report, policy, self.now), "late_by_seconds": None})
        pending = [d.due_at for d in new if d.kind not in met]
        return IntakeResult(Outcome.STORED, 0, min(pending, default=None))

    def _restart_silence(self, report: Report) -> None:
        """`duties.on_report`'s silence step, on the in-memory copy of the township's clocks."""
        township = report.township
        fresh = {
            r["kind"]: r for r in duties.silence_rows(self.policy, township, report.reported_at, self.now)
        }
        moved: set[str] = set()
        still_open: list[_Silence] = []
        for clock in self.silence[township]:
            if clock.state == DeadlineState.PENDING.value:
                new = fresh[clock.kind]
                if new["due_at"] > clock.due_at:
                    clock.due_at = new["due_at"]
                    target = clock.row if clock.id is None else clock.changed
                    target.update(due_at=new["due_at"], fire_at=new["due_at"], context=new["context"])
                moved.add(clock.kind)
                still_open.append(clock)
            else:  # flagged already: this report ends that silent stretch
                assert clock.id is not None
                self.ended_silence.append(
                    {"b_id": clock.id, "b_met_at": report.reported_at, "b_met_by": report.report_id}
                )
        latest = self.latest.get(township)
        if latest is None or latest <= report.reported_at:
            for kind, row in fresh.items():
                if kind not in moved:
                    still_open.append(_Silence(kind, row["state"], row["due_at"], row=row))
        self.silence[township] = still_open
        self.latest[township] = max(latest or report.reported_at, report.reported_at)

    async def write(self, conn: AsyncConnection) -> None:
        await bulk.insert_rows(conn, incidents, self.new_incidents)
        # New incidents' rows cannot exist yet (the incident insert would have failed first).
        await bulk.insert_rows(conn, deadlines, self.new_deadlines)
        planned = [c.row for clocks in self.silence.values() for c in clocks if c.id is None]
        await arming.insert_ignoring_existing(conn, planned)
        moved = [{"b_id": c.id, **_bound(c.changed)} for cs in self.silence.values() for c in cs if c.changed]
        if moved:
            await conn.execute(
                deadlines.update()
                .where(deadlines.c.id == bindparam("b_id"), deadlines.c.state == DeadlineState.PENDING.value)
                .values(
                    due_at=bindparam("b_due_at"),
                    fire_at=bindparam("b_fire_at"),
                    context=bindparam("b_context"),
                ),
                moved,
            )
        if self.ended_silence:
            await conn.execute(
                deadlines.update()
                .where(deadlines.c.id == bindparam("b_id"))
                .values(
                    state=DeadlineState.MET.value,
                    fire_at=None,
                    met_at=bindparam("b_met_at"),
                    met_by=bindparam("b_met_by"),
                ),
                self.ended_silence,
            )
        await bulk.insert_rows(conn, reports, self.new_reports)


def _bound(values: dict[str, Any]) -> dict[str, Any]:
    return {f"b_{k}": v for k, v in values.items()}
