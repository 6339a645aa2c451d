"""Response bodies of the HTTP API (request bodies live with the codec they share with Kafka)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from fastapi import HTTPException
from pydantic import BaseModel, ConfigDict, Field

from alerting.county.registration import Registering
from alerting.domain import Level


class ReportAccepted(BaseModel):
    report_id: str
    incident_id: str
    topic: str
    partition: int
    offset: int
    reported_at: datetime


class RegisterBody(Registering):
    """An incident the county learned of from another channel (热线、媒体、上级通报)."""


class Registered(BaseModel):
    incident_id: str
    township_report_due: datetime


class CloseOut(BaseModel):
    incident_id: str
    final_report_due: datetime


class ForwardBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    mode: Literal["phone", "written"]
    note: str = Field(default="", max_length=2000)


class ForwardOut(BaseModel):
    incident_id: str
    mode: str
    late_by_seconds: int | None


class RegradeBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    level: Level
    reason: str = Field(min_length=2, max_length=2000, description="调整理由 (required)")


class DeadlineChange(BaseModel):
    kind: str
    from_: datetime | None = Field(alias="from")
    to: datetime | None


class RegradeOut(BaseModel):
    incident_id: str
    level: Level
    deadlines: list[DeadlineChange]


class TimelineItem(BaseModel):
    at: datetime
    kind: str
    text: str
    details: dict[str, Any]


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
    place: str | None
    deaths: int | None
    injured: int | None
    missing_persons: int | None
    is_problem: bool
    late_by_seconds: int | None
    provenance: str = Field(
        description="signed (by producer_key) | unsigned (broker time, township unverified) | unrecorded"
    )
    producer_key: str | None


class DeadlineOut(BaseModel):
    id: int
    kind: str
    seq: int
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
    in_digest: bool = Field(
        False, description="是否随汇总消息发出 / went out in a digest with other notifications"
    )


class EscalationOut(BaseModel):
    id: int
    deadline_id: int
    round: int
    step: int
    roles: list[str]
    recipients: list[dict[str, str]]
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
    origin: str
    source: str | None
    occurred_at: datetime
    known_at: datetime
    opened_at: datetime
    place: str | None
    deaths: int | None
    injured: int | None
    missing_persons: int | None
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    closed_at: datetime | None


class IncidentDetail(IncidentOut):
    reports: list[ReportOut]
    deadlines: list[DeadlineOut]
    escalations: list[EscalationOut]
    entries: list[EntryOut]
    timeline: list[TimelineItem]


class AckOut(BaseModel):
    incident_id: str
    acknowledged_at: datetime
    acknowledged_by: str
    already_acknowledged: bool


class Problem(BaseModel):
    detail: str


def invalid(where: Literal["query", "path", "body"], field: str, message: str) -> HTTPException:
    """A 422 in the same shape as FastAPI's own validation errors, so clients parse one format."""
    return invalid_all(where, {field: message})


def invalid_all(where: Literal["query", "path", "body"], problems: dict[str, str]) -> HTTPException:
    """One 422 naming every refused field."""
    detail = [
        {"loc": [where, field], "msg": message, "type": "value_error"} for field, message in problems.items()
    ]
    return HTTPException(422, detail=detail)
