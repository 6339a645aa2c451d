"""Prometheus metrics, one registry per service instance (no import-time globals)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.reports_received = Counter(
            "alerting_reports_received_total",
            "Reports read from the topic, by outcome.",
            ["outcome"],
            registry=r,
        )
        self.reports_dlq = Counter(
            "alerting_reports_dlq_total", "Messages sent to the dead-letter topic.", registry=r
        )
        self.late_reports = Counter(
            "alerting_late_reports_total", "late_report accountability entries written.", registry=r
        )
        self.escalations = Counter(
            "alerting_escalations_total", "Escalation rounds fired, by deadline kind.", ["kind"], registry=r
        )
        self.notifications = Counter(
            "alerting_notifications_total",
            "Notification attempts, by channel and outcome.",
            ["channel", "outcome"],
            registry=r,
        )
        self.deadlines_pending = Gauge(
            "alerting_deadlines_pending", "Deadlines not yet met or exhausted.", registry=r
        )
        self.firing_lateness = Histogram(
            "alerting_deadline_firing_lateness_seconds",
            "How long after its time a deadline round fired.",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5, 30, 120),
            registry=r,
        )
        self.intake_seconds = Histogram(
            "alerting_intake_batch_seconds", "Time to store one consumed batch.", registry=r
        )
