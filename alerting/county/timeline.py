"""An incident's timeline: reports, county actions, escalations with their delivery, and entries."""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

from alerting.domain import ENTRY_ZH, DeadlineKind, Level, Provenance
from alerting.policy.roster import addressed
from escalation.messages import DEADLINE_ZH

REPORT_ZH = {
    "first": "首报",
    "written": "书面报告",
    "followup": "续报",
    "final": "终报",
    "correction": "更正",
}
SENT_ZH = {"sent": "已送达", "pending": "待发送", "sending": "发送中", "failed": "发送失败"}


def _notification_text(note: dict[str, Any]) -> str:
    digest = "（汇总发送）" if note.get("in_digest") else ""
    return f"{note['channel']} {SENT_ZH.get(note['state'], note['state'])}{digest}"


def _event_text(note: dict[str, Any], tz: ZoneInfo) -> str:
    details = note["details"]
    match note["kind"]:
        case "registered":
            return f"县委办从其他渠道获悉（{details.get('source')}），登记人 {note['actor']}"
        case "level_changed":
            return _level_text(note["actor"], details)
        case "level_not_lowered":
            return (
                f"报告所称等级 {details.get('reported')} 低于事件等级 {details.get('level')}："
                "等级与时限不变，降级由县委办调整"
            )
        case "acknowledged":
            return f"{note['actor']} 签收"
        case "closed":
            said = f"；办结说明：{details['note']}" if details.get("note") else ""
            return f"应急响应结束（{note['actor']}），开始计算终报时限{said}"
        case "forwarded":
            mode = "电话" if details.get("mode") == "phone" else "书面"
            said = f"（{details['note']}）" if details.get("note") else ""
            return f"{note['actor']} 已{mode}上报市委办{said}"
    return str(note["kind"])


def _level_text(actor: str, details: dict[str, Any]) -> str:
    before, after = details.get("from"), details.get("to")
    if "reason" in details:  # the county re-graded it
        graver = Level(str(after)).graver_than(Level(str(before)))
        effect = "相关时限按新等级提前（不晚于原时限）" if graver else "相关时限按新等级放宽"
        return f"{actor} 将事件等级由 {before} 调整为 {after}（理由：{details['reason']}），{effect}"
    return f"事件等级由 {before} 升为 {after}，相关时限按新等级提前（不晚于原时限）"


def timeline(detail: dict[str, Any], notes: list[dict[str, Any]], tz: ZoneInfo) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    for r in detail["reports"]:
        late = f"（迟报 {r['late_by_seconds'] // 60} 分钟）" if r["late_by_seconds"] else ""
        if r.get("provenance") == Provenance.UNSIGNED:
            late += "（未签名：按消息总线接收时间计，乡镇未经核验 / unsigned）"
        items.append(
            {
                "at": r["reported_at"],
                "kind": "report",
                "text": f"{r['township']}{REPORT_ZH.get(r['type'], r['type'])}：{r['title']}{late}",
                "details": {"report_id": r["report_id"], "type": r["type"]},
            }
        )
    for note in notes:
        items.append(
            {
                "at": note["at"],
                "kind": note["kind"],
                "text": _event_text(note, tz),
                "details": note["details"],
            }
        )
    kinds = {d["id"]: d["kind"] for d in detail["deadlines"]}
    for e in detail["escalations"]:
        kind = DeadlineKind(kinds[e["deadline_id"]])
        who = "、".join(addressed(p["role"], p["name"]) for p in e["recipients"]) or "（无人）"
        sent = "；".join(_notification_text(n) for n in e["notifications"])
        items.append(
            {
                "at": e["fired_at"],
                "kind": "escalation",
                "text": f"第{e['step'] + 1}级提醒（{DEADLINE_ZH[kind]}）发给 {who}：{sent}",
                "details": {"escalation_id": e["id"], "round": e["round"]},
            }
        )
    for entry in detail["entries"]:
        items.append(
            {
                "at": entry["recorded_at"],
                "kind": "entry",
                "text": f"问责记录：{ENTRY_ZH.get(entry['kind'], entry['kind'])}",
                "details": {"entry_id": entry["id"], "kind": entry["kind"]},
            }
        )
    return sorted(items, key=lambda item: item["at"])
