"""Response bodies of the HTTP API (request bodies live with the codec they share with Kafka)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel


class ReportAccepted(BaseModel):
    report_id: str
    incident_id: str
    topic: str
    partition: int
    offset: int
    reported_at: datetime


class ReportOut(BaseModel):
    report_id: str
    type: str
    township: str
    category: str
    level: str
    title: str
    summary: str
    occurred_at: datetime
    known_at: datetime
    reported_at: datetime
    reporter_name: str
    reporter_phone: str
    late_by_seconds: int | None


class DeadlineOut(BaseModel):
    id: int
    kind: str
    due_at: datetime
    state: str
    fire_at: datetime | None
    met_at: datetime | None
    met_by: str | None


class NotificationOut(BaseModel):
    channel: str
    state: str
    attempts: int
    last_error: str | None
    sent_at: datetime | None


class EscalationOut(BaseModel):
    id: int
    deadline_id: int
    round: int
    step: int
    roles: list[str]
    fired_at: datetime
    scheduled_for: datetime
    notifications: list[NotificationOut]


class EntryOut(BaseModel):
    id: int
    kind: str
    township: str | None
    incident_id: str | None
    report_id: str | None
    deadline_id: int | None
    refers_to: int | None
    responsible: str
    occurred_at: datetime
    recorded_at: datetime
    delay_seconds: int | None
    details: dict[str, Any]
    prev_hash: str
    hash: str


class IncidentOut(BaseModel):
    id: str
    township: str
    level: str
    category: str
    title: str
    status: str
    occurred_at: datetime
    known_at: datetime
    opened_at: datetime
    acknowledged_at: datetime | None
    acknowledged_by: str | None


class IncidentDetail(IncidentOut):
    reports: list[ReportOut]
    deadlines: list[DeadlineOut]
    escalations: list[EscalationOut]
    entries: list[EntryOut]


class AckOut(BaseModel):
    incident_id: str
    acknowledged_at: datetime
    acknowledged_by: str
    already_acknowledged: bool


class EntryPage(BaseModel):
    entries: list[EntryOut]
    next_cursor: int | None


class Problem(BaseModel):
    detail: str
