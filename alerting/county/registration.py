"""What registering an incident learned elsewhere (登记事件) asks for: the fields, their limits and the
channels, one rule for POST /api/v1/incidents and the information section's form, so the two cannot
drift. The act itself is actions.register."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from alerting.county.actions import Registration
from alerting.domain import Level
from alerting.policy.model import Policy
from consumers.codec import IsoTime

Source = Literal["hotline", "media", "higher_notice", "inspection", "other"]
SOURCE_ZH: dict[Source, str] = {
    "hotline": "热线电话",
    "media": "媒体报道",
    "higher_notice": "上级通报",
    "inspection": "督查检查",
    "other": "其他渠道",
}


class Registering(BaseModel):
    """An incident to register, as the API's body or the form gives it."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    incident_id: str | None = Field(
        default=None,
        min_length=1,
        max_length=64,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]*$",
        description="generated if absent; give it to the township so that its reports refer to it",
    )
    township: str = Field(min_length=1, max_length=64)
    level: Level
    category: str = Field(min_length=1, max_length=64)
    title: str = Field(min_length=1, max_length=200)
    summary: str = Field(default="", max_length=20000)
    source: Source
    occurred_at: IsoTime | None = None
    learned_at: IsoTime | None = Field(default=None, description="获悉时间; now if absent")

    def refusals(self, policy: Policy, now: datetime) -> dict[str, str]:
        """What the county's rules refuse, by field (Chinese, then English): a category that is not
        urgent (a routine one would arm a concealment check, and then a wrong entry), or an incident
        that occurred after the county learned of it."""
        found: dict[str, str] = {}
        if (refusal := policy.category_refusal(self.category, "urgent")) is not None:
            found["category"] = refusal
        if self.occurred_at is not None and self.occurred_at > min(self.learned_at or now, now):
            found["occurred_at"] = "发生时间晚于获悉时间 / it occurred after the county learned of it"
        return found

    def registration(self, new_id: str, now: datetime) -> Registration:
        """The act's input: `new_id` if no id was given; now if 获悉时间 is absent or later than now."""
        return Registration(
            incident_id=self.incident_id or new_id,
            township=self.township,
            level=self.level,
            category=self.category,
            title=self.title,
            summary=self.summary,
            source=self.source,
            occurred_at=self.occurred_at,
            learned_at=min(self.learned_at or now, now),
        )
