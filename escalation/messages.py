"""What a notification says: the JSON body sent to every channel, Chinese text first."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from alerting.domain import DeadlineKind
from alerting.policy.roster import Recipient, addressed

DEADLINE_ZH = {
    DeadlineKind.FIRST_REPORT: "首报超时",
    DeadlineKind.WRITTEN_REPORT: "书面报告超时",
    DeadlineKind.FOLLOWUP: "续报超时",
    DeadlineKind.FINAL_REPORT: "终报超时",
    DeadlineKind.CONCEALMENT_CHECK: "疑似瞒报（县委办已从其他渠道获悉，乡镇未报）",
    DeadlineKind.ACK: "值班员签收超时",
    DeadlineKind.FORWARD_PHONE: "电话上报市委办超时",
    DeadlineKind.FORWARD_WRITTEN: "书面上报市委办超时",
    DeadlineKind.SILENCE_REMINDER: "长期未报送信息提醒",
    DeadlineKind.SILENCE: "长期未报送信息",
    DeadlineKind.PERIODIC: "定期报送超时",
    DeadlineKind.QUARTER_BALANCE: "本季度只报喜不报忧",
    DeadlineKind.ASSIGNMENT_REMINDER: "约稿即将到期提醒",
    DeadlineKind.ASSIGNMENT: "约稿超时未报",
    DeadlineKind.OFFICER_VACANCY: "信息员断档缺人",
    DeadlineKind.ROSTER_GAP: "值班表即将排完，请续排",
}
DEADLINE_EN = {
    DeadlineKind.FIRST_REPORT: "first report overdue",
    DeadlineKind.WRITTEN_REPORT: "written report overdue",
    DeadlineKind.FOLLOWUP: "follow-up report overdue",
    DeadlineKind.FINAL_REPORT: "final report overdue",
    DeadlineKind.CONCEALMENT_CHECK: "suspected concealment: learned elsewhere, township has not reported",
    DeadlineKind.ACK: "acknowledgement overdue",
    DeadlineKind.FORWARD_PHONE: "phone report to the city overdue",
    DeadlineKind.FORWARD_WRITTEN: "written report to the city overdue",
    DeadlineKind.SILENCE_REMINDER: "no reports for a long time (reminder)",
    DeadlineKind.SILENCE: "no reports for a long time",
    DeadlineKind.PERIODIC: "periodic report overdue",
    DeadlineKind.QUARTER_BALANCE: "only good news reported this quarter",
    DeadlineKind.ASSIGNMENT_REMINDER: "assignment due soon (reminder)",
    DeadlineKind.ASSIGNMENT: "assignment overdue",
    DeadlineKind.OFFICER_VACANCY: "no information officer",
    DeadlineKind.ROSTER_GAP: "the duty roster runs out within a day",
}


@dataclass(frozen=True, slots=True)
class Subject:
    """What the notification is about: an incident, or a township's duty."""

    township: str
    incident_id: str | None = None
    title: str | None = None
    level: str | None = None
    category: str | None = None
    known_at: datetime | None = None
    duty: str | None = None  # periodic duty title, or the silent stretch's start

    def describe_zh(self) -> str:
        if self.incident_id is None:
            return f"{self.township}{('「' + self.duty + '」') if self.duty else ''}"
        return f"{self.township}「{self.title}」（{self.level}级，{self.category}）"

    def describe_en(self) -> str:
        if self.incident_id is None:
            return f"{self.township}{(' ' + repr(self.duty)) if self.duty else ''}"
        return f"{self.township} '{self.title}' (level {self.level})"


def _recipient(person: Recipient, ack_url: str | None) -> dict[str, Any]:
    """A recipient as channels read it; `feishu_user_id` only where the directory knows it."""
    shown = {"role": person.role, "name": person.name, "phone": person.phone, "ack_url": ack_url}
    if person.feishu_user_id:
        shown["feishu_user_id"] = person.feishu_user_id
    return shown


def escalation_payload(
    *,
    subject: Subject,
    kind: DeadlineKind,
    due_at: datetime,
    round_number: int,
    step: int,
    roles: tuple[str, ...],
    recipients: list[Recipient],
    unresolved: list[str],
    ack_urls: dict[str, str],
    idempotency_key: str,
    timezone: str,
) -> dict[str, Any]:
    """The body every channel receives; `ack_urls` maps a recipient's name to their own ack link.

    There is no link for the message as a whole: a link acknowledges in one person's name, so each
    recipient's stays with them (and a channel shows each person their own)."""
    local = due_at.astimezone(ZoneInfo(timezone))
    # Formatted by hand: strftime costs more than the rest of the message in a burst of thousands.
    local_due = f"{local.year:04d}-{local.month:02d}-{local.day:02d} {local.hour:02d}:{local.minute:02d}"
    who = "、".join(addressed(r.role, r.name) for r in recipients) or "值班员"
    text = (
        f"【紧急信息提醒·{DEADLINE_ZH[kind]}】{subject.describe_zh()}时限 {local_due} 已过，请{who}立即处理。"
    )
    return {
        "event": "deadline_missed",
        "idempotency_key": idempotency_key,
        "text": text,
        # A digest's line for it: what and when, without the greeting.
        "summary": f"{subject.describe_zh()}{DEADLINE_ZH[kind]}，时限 {local_due}",
        "text_en": f"{subject.describe_en()}: {DEADLINE_EN[kind]}, due {local_due}.",
        "township": subject.township,
        "incident": None
        if subject.incident_id is None
        else {
            "id": subject.incident_id,
            "level": subject.level,
            "category": subject.category,
            "title": subject.title,
            "known_at": subject.known_at.isoformat() if subject.known_at else None,
        },
        "deadline": {"kind": kind.value, "due_at": due_at.isoformat()},
        "escalation": {"round": round_number, "step": step + 1, "roles": list(roles)},
        "recipients": [_recipient(r, ack_urls.get(r.name)) for r in recipients],
        "unresolved_roles": unresolved,
    }
