"""What a notification says: the JSON body sent to every channel, Chinese text first."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from alerting.domain import DeadlineKind

DEADLINE_ZH = {
    DeadlineKind.ACK: "值班员签收超时",
    DeadlineKind.FIRST_REPORT: "首报超时",
    DeadlineKind.WRITTEN_REPORT: "书面报告超时",
}
DEADLINE_EN = {
    DeadlineKind.ACK: "acknowledgement overdue",
    DeadlineKind.FIRST_REPORT: "first report overdue",
    DeadlineKind.WRITTEN_REPORT: "written report overdue",
}
ROLE_ZH = {
    "duty_officer": "值班员",
    "leader_on_duty": "带班领导",
    "section_chief": "信息科负责人",
    "director": "县委办主任",
    "township_leader": "乡镇负责人",
}


def escalation_payload(
    *,
    incident: Any,
    kind: DeadlineKind,
    due_at: datetime,
    round_number: int,
    step: int,
    roles: tuple[str, ...],
    idempotency_key: str,
    timezone: str,
) -> dict[str, Any]:
    local_due = due_at.astimezone(ZoneInfo(timezone)).strftime("%Y-%m-%d %H:%M")
    who = "、".join(ROLE_ZH.get(r, r) for r in roles) or "值班员"
    text = (
        f"【紧急信息提醒·{DEADLINE_ZH[kind]}】{incident.township}「{incident.title}」"
        f"（{incident.level}级，{incident.category}）时限 {local_due} 已过，请{who}立即处理。"
    )
    return {
        "event": "deadline_missed",
        "idempotency_key": idempotency_key,
        "text": text,
        "text_en": (
            f"{incident.township} '{incident.title}' (level {incident.level}): "
            f"{DEADLINE_EN[kind]}, due {local_due}."
        ),
        "incident": {
            "id": incident.id,
            "township": incident.township,
            "level": incident.level,
            "category": incident.category,
            "title": incident.title,
            "known_at": incident.known_at.isoformat(),
        },
        "deadline": {"kind": kind.value, "due_at": due_at.isoformat()},
        "escalation": {"round": round_number, "step": step + 1, "roles": list(roles)},
    }
