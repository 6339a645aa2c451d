"""A routine item (日常信息) on the wire: the HTTP body and the topic's message with `"type": "routine"`.

The same topic carries urgent reports and routine items, in order per key; a routine message is
told apart by its type. Its receipt time follows the reports' rule (consumers/signing.py).
"""

from __future__ import annotations

from datetime import UTC
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from alerting.domain import Report, Reporter, RoutineItem
from alerting.errors import InvalidReport
from consumers.codec import (
    SCHEMA_VERSION,
    Identifier,
    IsoTime,
    Name,
    ReporterModel,
    describe,
    load_object,
    report_of,
)
from consumers.signing import Receipt

ROUTINE = "routine"
FileName = Field(min_length=1, max_length=200, pattern=r"^[^/\\\x00-\x1f]+$")


class ItemBody(BaseModel):
    """What a township submits as a routine item: a new one, or a new version of a returned one."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    submission_id: Identifier | None = Field(
        default=None, description="client-chosen id making a retry harmless; generated if absent"
    )
    item_id: Identifier | None = Field(
        default=None, description="an existing item's id to submit a revised version of it; new if absent"
    )
    township: Name = Field(description="乡镇/单位")
    category: Name = Field(description="类别, a routine category of the catalogue (工作动态, 社情民意, ...)")
    title: str = Field(min_length=1, max_length=200, description="标题")
    text: str = Field(min_length=1, max_length=50000, description="正文")
    attachments: tuple[str, ...] = Field(default=(), max_length=20, description="附件名称")
    assignment_id: Identifier | None = Field(default=None, description="the assignment (约稿) it answers")
    reporter: ReporterModel
    is_problem: bool | None = Field(default=None, description="报告问题或风险; else the category's default")


class ItemMessage(ItemBody):
    schema_version: Literal[1] = SCHEMA_VERSION
    type: Literal["routine"]
    submission_id: Identifier  # required on the wire
    item_id: Identifier  # required on the wire: the first version's is the submission id
    submitted_at: IsoTime | None = Field(
        default=None, description="when the county received it; honoured only under a county-wide key"
    )

    def to_item(self, receipt: Receipt) -> RoutineItem:
        receipt.check_township(self.township)
        return RoutineItem(
            submission_id=self.submission_id,
            item_id=self.item_id,
            township=self.township,
            category=self.category,
            title=self.title,
            text=self.text,
            submitted_at=receipt.reported_at(self.submitted_at).astimezone(UTC),
            reporter=Reporter(self.reporter.name, self.reporter.phone),
            attachments=tuple(self.attachments),
            assignment_id=self.assignment_id,
            is_problem=self.is_problem,
            provenance=receipt.provenance,
            producer_key=receipt.key.key_id if receipt.key else None,
        )


def decode_record(value: bytes | None, receipt: Receipt, max_bytes: int) -> Report | RoutineItem:
    """Bytes from the topic to an urgent Report or a RoutineItem (by its type), or InvalidReport."""
    data = load_object(value, max_bytes)
    if data.get("type") != ROUTINE:
        return report_of(data, receipt)
    try:
        return ItemMessage.model_validate(data).to_item(receipt)
    except ValidationError as exc:
        raise InvalidReport(describe(exc)) from None


def encode_item(message: ItemMessage) -> bytes:
    return message.model_dump_json(exclude_none=True).encode("utf-8")
