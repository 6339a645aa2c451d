"""The report message on the wire (JSON, schema version 1) and its translation to a domain Report."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)

from alerting.domain import Level, Report, Reporter, ReportType
from alerting.errors import InvalidReport, UnknownSchemaVersion
from consumers.signing import Receipt

SCHEMA_VERSION: Literal[1] = 1
EARLIEST_YEAR, LATEST_YEAR = 1971, 2199


def _iso_text(value: object) -> object:
    if isinstance(value, (int, float)):
        raise ValueError("write the time as ISO 8601 text with an offset, e.g. 2026-03-02T09:00:00+08:00")
    return value


def _plausible(value: datetime) -> datetime:
    if not EARLIEST_YEAR <= value.year <= LATEST_YEAR:
        raise ValueError(f"the year must be between {EARLIEST_YEAR} and {LATEST_YEAR}")
    return value


# Times at the edges: ISO 8601 text with an offset, within a sane range (no epoch numbers, no year 1).
IsoTime = Annotated[AwareDatetime, BeforeValidator(_iso_text), AfterValidator(_plausible)]
Identifier = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]*$")]
Name = Annotated[str, Field(min_length=1, max_length=64)]


class ReporterModel(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: str = Field(min_length=1, max_length=100, description="报送人 / person reporting")
    phone: str = Field(min_length=3, max_length=40, pattern=r"^[0-9+\-() ]+$")


class Casualties(BaseModel):
    model_config = ConfigDict(extra="forbid")

    deaths: int | None = Field(default=None, ge=0, le=100000, description="死亡")
    injured: int | None = Field(default=None, ge=0, le=100000, description="受伤")
    missing: int | None = Field(default=None, ge=0, le=100000, description="失踪")


class ReportBody(BaseModel):
    """What a township submits (HTTP body); also the core of the Kafka message."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    report_id: Identifier | None = Field(
        default=None, description="client-chosen id making a retry harmless; generated if absent"
    )
    incident_id: Identifier
    township: Name = Field(description="乡镇/单位 / reporting township or unit")
    type: ReportType
    category: Name
    level: Level
    title: str = Field(min_length=1, max_length=200)
    summary: str = Field(max_length=20000)
    occurred_at: IsoTime = Field(description="发生时间, ISO 8601 with offset")
    known_at: IsoTime = Field(description="获悉时间, ISO 8601 with offset")
    reporter: ReporterModel
    place: str | None = Field(default=None, max_length=200, description="地点")
    casualties: Casualties | None = Field(
        default=None, description="伤亡 (key facts: a correction is checked)"
    )
    is_problem: bool | None = Field(
        default=None, description="报告问题或风险 (喜忧兼报); the category's default when absent"
    )

    @model_validator(mode="after")
    def _times(self) -> ReportBody:
        if self.known_at < self.occurred_at:
            raise ValueError("known_at is before occurred_at")
        return self


class ReportMessage(ReportBody):
    """A report as it travels on the topic."""

    schema_version: Literal[1] = SCHEMA_VERSION
    report_id: Identifier  # required on the wire
    reported_at: IsoTime | None = Field(
        default=None,
        description="when the county received it; honoured only under a county-wide key (see signing)",
    )

    def to_report(self, receipt: Receipt) -> Report:
        receipt.check_township(self.township)
        reported_at = receipt.reported_at(self.reported_at).astimezone(UTC)
        if reported_at < self.known_at:
            raise InvalidReport("reported_at is before known_at")
        return Report(
            report_id=self.report_id,
            incident_id=self.incident_id,
            township=self.township,
            type=self.type,
            category=self.category,
            level=self.level,
            title=self.title,
            summary=self.summary,
            occurred_at=self.occurred_at.astimezone(UTC),
            known_at=self.known_at.astimezone(UTC),
            reported_at=reported_at,
            reporter=Reporter(self.reporter.name, self.reporter.phone),
            is_problem=self.is_problem,
            place=self.place,
            deaths=self.casualties.deaths if self.casualties else None,
            injured=self.casualties.injured if self.casualties else None,
            missing_persons=self.casualties.missing if self.casualties else None,
            provenance=receipt.provenance,
            producer_key=receipt.key.key_id if receipt.key else None,
        )


def describe(error: ValidationError) -> str:
    """One line naming each bad field, safe to show to the sender."""
    parts = []
    for item in error.errors()[:5]:
        where = ".".join(str(p) for p in item["loc"]) or "message"
        parts.append(f"{where}: {item['msg']}")
    return "; ".join(parts)


def check_size(value: bytes | None, max_bytes: int) -> bytes:
    if value is None:
        raise InvalidReport("empty message")
    if len(value) > max_bytes:
        raise InvalidReport(f"message is {len(value)} bytes; the limit is {max_bytes}")
    return value


def load_object(value: bytes | None, max_bytes: int) -> dict[str, Any]:
    """A message's JSON object, of a schema version this service reads, or InvalidReport."""
    value = check_size(value, max_bytes)
    try:
        data: Any = json.loads(value)
    except (ValueError, RecursionError) as exc:  # also nesting bombs and over-long integers
        raise InvalidReport(f"not JSON: {type(exc).__name__}: {str(exc)[:200]}") from None
    if not isinstance(data, dict):
        raise InvalidReport("not a JSON object")
    version = data.get("schema_version", SCHEMA_VERSION)
    if version != SCHEMA_VERSION:
        raise UnknownSchemaVersion(f"schema_version {version!r} is not supported (expected 1)")
    return data


def decode(value: bytes | None, receipt: Receipt, max_bytes: int) -> Report:
    """Bytes from the topic to a Report, or InvalidReport with the reason."""
    return report_of(load_object(value, max_bytes), receipt)


def report_of(data: dict[str, Any], receipt: Receipt) -> Report:
    try:
        message = ReportMessage.model_validate(data)
    except ValidationError as exc:
        raise InvalidReport(describe(exc)) from None
    return message.to_report(receipt)


def encode(message: ReportMessage) -> bytes:
    return message.model_dump_json(exclude_none=True).encode("utf-8")
