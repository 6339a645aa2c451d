#!/usr/bin/env python3
"""Writes deploy/monitoring/grafana-dashboard.json, the service's Grafana dashboard.

    python3 deploy/monitoring/dashboard.py          # rewrite the JSON next to this file
    python3 deploy/monitoring/dashboard.py --check  # exit 1 if the JSON is not what this writes

Rows: intake, deadlines, delivery, accountability, process. Titles are Chinese, descriptions Chinese
then English. Every query names metrics the service exports (tests/deploy/test_monitoring.py checks it
against a running service's /metrics). Queries aggregate across replicas the way the alert rules do:
gauges read from the shared database with max, per-partition lag and counters with sum.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

OUT = Path(__file__).resolve().parent / "grafana-dashboard.json"
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
SEL = '{job=~"$job"}'
RATE = "$__rate_interval"


@dataclass(frozen=True)
class Panel:
    title: str
    description: str
    targets: list[tuple[str, str]]  # (expr, legend)
    unit: str = "short"
    kind: str = "timeseries"  # or "stat"
    width: int = 8
    mappings: list[dict[str, Any]] = field(default_factory=list)
    thresholds: list[tuple[float | None, str]] = field(default_factory=lambda: [(None, "green")])


def sel(extra: str = "") -> str:
    """The job selector, with more matchers if given."""
    return SEL if not extra else SEL[:-1] + "," + extra + "}"


INTAKE = [
    Panel(
        "报送入库速率",
        "每秒入库的报送，按结果（stored 新入库，duplicate 重复投递等）。/ Reports stored per second, "
        "by outcome.",
        [(f"sum by (outcome) (rate(alerting_reports_received_total{SEL}[{RATE}]))", "{{outcome}}")],
        unit="ops",
    ),
    Panel(
        "消费滞后（按分区）",
        "各分区尚未提交的记录数（末端偏移量减已提交偏移量）。/ Records not yet committed, per partition.",
        [(f"sum by (topic, partition) (alerting_consumer_lag{SEL})", "{{topic}}/{{partition}}")],
    ),
    Panel(
        "距上次成功入库",
        "最近一次成功入库一批报送至今的时间；无积压时长时间无报送属正常。/ Time since a consumed batch was "
        "last stored; long gaps are normal when nothing is reported and there is no lag.",
        [(f"time() - max(alerting_intake_last_success_timestamp_seconds{SEL} > 0)", "")],
        unit="s",
        kind="stat",
        thresholds=[(None, "green"), (600, "orange")],
    ),
    Panel(
        "读取与处理",
        "每秒读取的记录（重试会再读）与处理结果：入库与死信。/ Records read per second (retries read again) "
        "against records stored and dead-lettered.",
        [
            (f"sum(rate(alerting_consumer_records_polled_total{SEL}[{RATE}]))", "读取 / polled"),
            (f"sum(rate(alerting_reports_received_total{SEL}[{RATE}]))", "入库 / stored"),
            (f"sum(rate(alerting_reports_dlq_total{SEL}[{RATE}]))", "死信 / DLQ"),
        ],
        unit="ops",
    ),
    Panel(
        "死信（1 小时）",
        "一小时内进入死信队列的消息。/ Messages sent to the dead-letter topic in the last hour.",
        [(f"sum(increase(alerting_reports_dlq_total{SEL}[1h]))", "")],
        kind="stat",
        thresholds=[(None, "green"), (1, "orange")],
    ),
    Panel(
        "入库失败与批次耗时",
        "入库失败（按错误类别）与存储一批的 P99 耗时。/ Intake failures by error class, and p99 time to "
        "store a batch.",
        [
            (f"sum by (error) (rate(alerting_intake_failures_total{SEL}[{RATE}]))", "失败 / {{error}}"),
            (
                "histogram_quantile(0.99, sum by (le) "
                f"(rate(alerting_intake_batch_seconds_bucket{SEL}[{RATE}])))",
                "批次 P99 / batch p99 (s)",
            ),
        ],
    ),
]

DEADLINES = [
    Panel(
        "期限触发延迟",
        "期限到点后多久触发升级（P50、P99）；目标 P99 ≤ 50 毫秒。/ How late deadline rounds fire (p50, "
        "p99); target p99 ≤ 50 ms.",
        [
            (
                f"histogram_quantile({q}, sum by (le) "
                f"(rate(alerting_deadline_firing_lateness_seconds_bucket{SEL}[{RATE}])))",
                f"P{int(q * 100)}",
            )
            for q in (0.5, 0.99)
        ],
        unit="s",
    ),
    Panel(
        "到期未触发",
        "已过触发时间一分钟以上仍未触发的期限；应为 0。/ Deadlines over a minute past their fire time and "
        "not fired; should be 0.",
        [(f"max(alerting_deadlines_overdue{SEL})", "")],
        kind="stat",
        thresholds=[(None, "green"), (1, "red")],
    ),
    Panel(
        "待处理期限",
        "尚未满足或用尽的期限。/ Deadlines not yet met or exhausted.",
        [(f"max(alerting_deadlines_pending{SEL})", "")],
        kind="stat",
    ),
    Panel(
        "升级轮次（按期限类型）",
        "每秒触发的升级轮次，按期限类型。/ Escalation rounds fired per second, by deadline kind.",
        [(f"sum by (kind) (rate(alerting_escalations_total{SEL}[{RATE}]))", "{{kind}}")],
        unit="ops",
    ),
    Panel(
        "迟报（1 小时）",
        "一小时内记录的迟报条目。/ late_report entries written in the last hour.",
        [(f"sum(increase(alerting_late_reports_total{SEL}[1h]))", "")],
        kind="stat",
    ),
    Panel(
        "值班表剩余",
        "值班表最后一班结束前的时间；负数表示已排完，无数据表示未录入值班表。/ Time until the last "
        "shift entered ends; negative: over; no data: no shifts entered.",
        [(f"max(alerting_roster_covered_until_timestamp_seconds{SEL} > 0) - time()", "")],
        unit="s",
        kind="stat",
        thresholds=[(None, "red"), (86400, "orange"), (3 * 86400, "green")],
    ),
]

_FAILED = sel('outcome!="sent"')

DELIVERY = [
    Panel(
        "待发送通知（按渠道）",
        "尚未发出或最终失败的通知（等待、重试、发送中）。/ Notifications not yet sent or failed for good.",
        [(f"max by (channel) (alerting_outbox_pending{SEL})", "{{channel}}")],
    ),
    Panel(
        "最早待发送通知的等待时间",
        "各渠道最早一条待发送通知已等待的时间。/ Age of the oldest notification waiting, per channel.",
        [(f"max by (channel) (alerting_outbox_oldest_pending_age_seconds{SEL})", "{{channel}}")],
        unit="s",
    ),
    Panel(
        "发送失败率",
        "各渠道发送尝试中失败（重试或最终失败）的比例。/ Share of attempts that failed, per channel.",
        [
            (
                f"sum by (channel) (rate(alerting_notifications_total{_FAILED}[{RATE}])) / "
                f"sum by (channel) (rate(alerting_notifications_total{SEL}[{RATE}]))",
                "{{channel}}",
            )
        ],
        unit="percentunit",
    ),
    Panel(
        "发送结果",
        "每秒发送尝试，按渠道与结果（sent、retry、failed）。/ Attempts per second by channel and outcome.",
        [
            (
                f"sum by (channel, outcome) (rate(alerting_notifications_total{SEL}[{RATE}]))",
                "{{channel}} {{outcome}}",
            )
        ],
        unit="ops",
        width=12,
    ),
    Panel(
        "限流等待",
        "因渠道限额而延后的通知。/ Notifications made to wait for their channel's rate budget.",
        [(f"sum by (channel) (rate(alerting_notifications_deferred_total{SEL}[{RATE}]))", "{{channel}}")],
        unit="ops",
        width=12,
    ),
]

_INTACT = [
    {
        "type": "value",
        "options": {
            "0": {"text": "断裂 / broken", "color": "red"},
            "1": {"text": "完好 / intact", "color": "green"},
        },
    }
]
_VERIFIERS = "alerting_chain_verification_interval_seconds" + sel() + " > 0"

ACCOUNTABILITY = [
    Panel(
        "问责记录链",
        "最近一次定期校验的结果（执行期限组件的实例）。/ The last periodic verification of the "
        "accountability chain, on the instances that run it.",
        [(f"min(alerting_chain_verification_ok{SEL} and {_VERIFIERS})", "")],
        kind="stat",
        width=6,
        mappings=_INTACT,
        thresholds=[(None, "red"), (1, "green")],
    ),
    Panel(
        "距上次校验",
        "最近一次完成校验至今的时间。/ Time since the chain was last verified.",
        [(f"time() - max(alerting_chain_verification_last_timestamp_seconds{SEL} > 0)", "")],
        unit="s",
        kind="stat",
        width=6,
    ),
    Panel(
        "校验条目数",
        "最近一次校验检查的条目。/ Entries the last verification checked.",
        [(f"max(alerting_chain_verification_entries{SEL})", "")],
        kind="stat",
        width=6,
    ),
    Panel(
        "校验耗时",
        "最近一次校验所用时间。/ How long the last verification took.",
        [(f"max(alerting_chain_verification_duration_seconds{SEL})", "")],
        unit="s",
        kind="stat",
        width=6,
    ),
]

PROCESS = [
    Panel(
        "采集与就绪",
        "Prometheus 能否采集（up）与 /readyz 是否就绪。/ Whether Prometheus scrapes each instance (up) "
        "and whether it is ready.",
        [(f"up{SEL}", "up {{instance}}"), (f"alerting_ready{SEL}", "ready {{instance}}")],
    ),
    Panel(
        "就绪检查",
        "/readyz 的各项检查：database、kafka、worker、intake。/ Each check of /readyz.",
        [(f"min by (check) (alerting_ready_check{SEL})", "{{check}}")],
    ),
    Panel(
        "组件",
        "运行各组件的实例数。/ Instances running each component.",
        [(f"sum by (component) (alerting_component_running{SEL})", "{{component}}")],
    ),
    Panel(
        "CPU",
        "各实例 API 进程（main）与工作进程（worker）的 CPU 使用。/ CPU of the API and worker processes.",
        [
            (
                f"sum by (instance, process) (rate(alerting_process_cpu_seconds_total{SEL}[{RATE}]))",
                "{{instance}} {{process}}",
            )
        ],
        unit="percentunit",
    ),
    Panel(
        "内存",
        "常驻内存。/ Resident memory.",
        [(f"alerting_process_resident_memory_bytes{SEL}", "{{instance}} {{process}}")],
        unit="bytes",
    ),
    Panel(
        "文件描述符",
        "打开的文件描述符（连接、数据库文件）。/ Open file descriptors.",
        [(f"alerting_process_open_fds{SEL}", "{{instance}} {{process}}")],
    ),
]

ROWS = [
    ("接收 / Intake", INTAKE),
    ("期限 / Deadlines", DEADLINES),
    ("通知 / Delivery", DELIVERY),
    ("问责 / Accountability", ACCOUNTABILITY),
    ("进程 / Process", PROCESS),
]


_DATASOURCE_VARIABLE = {"name": "datasource", "label": "数据源 / Data source", "type": "datasource"}
_DATASOURCE_VARIABLE |= {"query": "prometheus", "current": {}, "hide": 0}
_JOBS = "label_values(alerting_component_running, job)"
_JOB_VARIABLE = {"name": "job", "label": "任务 / Job", "type": "query", "datasource": DATASOURCE}
_JOB_VARIABLE |= {"query": {"query": _JOBS, "refId": "job"}, "definition": _JOBS, "refresh": 2}
_JOB_VARIABLE |= {"multi": True, "includeAll": True, "allValue": ".+", "current": {}, "hide": 0}


def _panel(panel: Panel, panel_id: int, x: int, y: int) -> dict[str, Any]:
    height = 4 if panel.kind == "stat" else 8
    steps = [{"value": value, "color": color} for value, color in panel.thresholds]
    options: dict[str, Any] = (
        {"reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False}, "colorMode": "value"}
        if panel.kind == "stat"
        else {"legend": {"displayMode": "list", "placement": "bottom"}, "tooltip": {"mode": "multi"}}
    )
    return {
        "id": panel_id,
        "type": panel.kind,
        "title": panel.title,
        "description": panel.description,
        "datasource": DATASOURCE,
        "gridPos": {"x": x, "y": y, "w": panel.width, "h": height},
        "fieldConfig": {
            "defaults": {
                "unit": panel.unit,
                "mappings": panel.mappings,
                "thresholds": {"mode": "absolute", "steps": steps},
            },
            "overrides": [],
        },
        "options": options,
        "targets": [
            {"refId": chr(ord("A") + n), "datasource": DATASOURCE, "expr": expr, "legendFormat": legend}
            for n, (expr, legend) in enumerate(panel.targets)
        ],
    }


def dashboard() -> dict[str, Any]:
    panels: list[dict[str, Any]] = []
    next_id = 1
    y = 0
    for title, row in ROWS:
        panels.append(
            {
                "id": next_id,
                "type": "row",
                "title": title,
                "collapsed": False,
                "gridPos": {"x": 0, "y": y, "w": 24, "h": 1},
                "panels": [],
            }
        )
        next_id += 1
        y += 1
        x = 0
        line_height = 0
        for panel in row:
            if x + panel.width > 24:
                x, y, line_height = 0, y + line_height, 0
            built = _panel(panel, next_id, x, y)
            panels.append(built)
            next_id += 1
            x += panel.width
            line_height = max(line_height, built["gridPos"]["h"])
        y += line_height
    return {
        "title": "县级紧急信息报送与预警服务 / County urgent-incident alerting",
        "uid": "county-alerting",
        "description": "接收、期限、通知、问责与进程。/ Intake, deadlines, delivery, accountability, "
        "process.",
        "tags": ["county-alerting"],
        "timezone": "browser",
        "schemaVersion": 39,
        "version": 1,
        "editable": True,
        "graphTooltip": 1,
        "refresh": "1m",
        "time": {"from": "now-6h", "to": "now"},
        "annotations": {"list": []},
        "templating": {"list": [_DATASOURCE_VARIABLE, _JOB_VARIABLE]},
        "panels": panels,
    }


def render() -> str:
    return json.dumps(dashboard(), ensure_ascii=False, indent=2) + "\n"


def main(argv: list[str]) -> int:
    text = render()
    if "--check" in argv:
        if OUT.read_text(encoding="utf-8") != text:
            print(f"{OUT} is out of date: run python3 {Path(__file__).name}", file=sys.stderr)
            return 1
        return 0
    OUT.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
