"""Prometheus metrics, one registry per service instance (no import-time globals)."""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import Collector


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
        self.notifications_deferred = Counter(
            "alerting_notifications_deferred_total",
            "Notifications made to wait for a slot of their channel's rate budget, by channel.",
            ["channel"],
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
        self.intake_failures = Counter(
            "alerting_intake_failures_total",
            "Consumed batches (or records, when isolated) that failed to store, by error class.",
            ["error"],
            registry=r,
        )
        self.intake_seconds = Histogram(
            "alerting_intake_batch_seconds", "Time to store one consumed batch.", registry=r
        )


def merge_expositions(*texts: str) -> bytes:
    """One exposition from several processes' (the API's and its worker's, see alerting/app/worker.py).

    Every process registers every family, so a sample with the same name and labels is added up:
    counters and histograms are shares of one total, and each gauge is set by one process only (the
    others report 0). A `_created` sample keeps the earliest time."""
    families: dict[str, Metric] = {}
    values: dict[tuple[str, str, tuple[tuple[str, str], ...]], float] = {}
    for text in texts:
        for family in text_string_to_metric_families(text):
            merged = families.setdefault(family.name, Metric(family.name, family.documentation, family.type))
            for sample in family.samples:
                key = (family.name, sample.name, tuple(sorted(sample.labels.items())))
                if key not in values:
                    values[key] = sample.value
                    merged.samples.append(sample)
                elif sample.name.endswith("_created"):
                    values[key] = min(values[key], sample.value)
                else:
                    values[key] += sample.value
    for family in families.values():
        family.samples = [
            s._replace(value=values[(family.name, s.name, tuple(sorted(s.labels.items())))])
            for s in family.samples
        ]
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Families(list(families.values())))
    return generate_latest(registry)


class _Families(Collector):
    def __init__(self, families: list[Metric]) -> None:
        self._families = families

    def collect(self) -> Iterable[Metric]:
        return self._families
