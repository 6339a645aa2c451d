"""Prometheus metrics, one registry per service instance (no import-time globals)."""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, ProcessCollector, generate_latest
from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import Collector


class Metrics:
    def __init__(self, process: str = "main") -> None:
        """`process`: "main" for the process `alerting run` starts, "worker" for its worker child."""
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
        # What the alert rules (deploy/monitoring/alerts.yaml) watch. Each gauge below is set by the
        # one process running the component that owns it (named in its help); the others report 0.
        self.records_polled = Counter(
            "alerting_consumer_records_polled_total",
            "Records read from the topic (consumer; a batch retried is read again).",
            registry=r,
        )
        self.intake_last_success = Gauge(
            "alerting_intake_last_success_timestamp_seconds",
            "When a consumed batch was last stored (consumer; 0 until the first).",
            registry=r,
        )
        self.consumer_lag = Gauge(
            "alerting_consumer_lag",
            "Records on the partition not yet committed by the group: end offset - committed (consumer).",
            ["topic", "partition"],
            registry=r,
        )
        self.outbox_pending = Gauge(
            "alerting_outbox_pending",
            "Notifications not yet sent or failed for good (waiting, retrying, in flight), by channel "
            "(delivery).",
            ["channel"],
            registry=r,
        )
        self.outbox_oldest_age = Gauge(
            "alerting_outbox_oldest_pending_age_seconds",
            "Age of the oldest notification not yet sent or failed for good, by channel (delivery).",
            ["channel"],
            registry=r,
        )
        self.deadlines_overdue = Gauge(
            "alerting_deadlines_overdue",
            "Deadlines whose fire time passed over a minute ago, still not fired (deadlines).",
            registry=r,
        )
        self.roster_covered_until = Gauge(
            "alerting_roster_covered_until_timestamp_seconds",
            "End of the last duty shift entered, 0 if the county enters none (deadlines).",
            registry=r,
        )
        self.chain_ok = Gauge(
            "alerting_chain_verification_ok",
            "1 if the last verification of the accountability chain found it intact, else 0 (deadlines).",
            registry=r,
        )
        self.chain_verified_at = Gauge(
            "alerting_chain_verification_last_timestamp_seconds",
            "When the accountability chain was last verified, 0 if not yet (deadlines).",
            registry=r,
        )
        self.chain_entries = Gauge(
            "alerting_chain_verification_entries",
            "Entries the last verification of the accountability chain checked: those after the "
            "checkpoint it went on from, or all (deadlines).",
            registry=r,
        )
        self.chain_interval = Gauge(
            "alerting_chain_verification_interval_seconds",
            "How often the accountability chain is verified (ALERTING_CHAIN_VERIFY_INTERVAL_S; deadlines).",
            registry=r,
        )
        self.chain_full_verified_at = Gauge(
            "alerting_chain_full_verification_last_timestamp_seconds",
            "When the newest checkpoint of a full verification (alerting audit verify) was recorded in "
            "the log, 0 if none (deadlines).",
            registry=r,
        )
        self.chain_seconds = Gauge(
            "alerting_chain_verification_duration_seconds",
            "How long the last verification of the accountability chain took (deadlines).",
            registry=r,
        )
        self.ready = Gauge(
            "alerting_ready",
            "1 if /readyz answers 200, evaluated at each /readyz and each scrape (the API process).",
            registry=r,
        )
        self.ready_check = Gauge(
            "alerting_ready_check",
            "Each check of /readyz: 1 ok, 0 failing (the API process).",
            ["check"],
            registry=r,
        )
        self.component_running = Gauge(
            "alerting_component_running",
            "1 for each component this service instance runs (set by the process running it).",
            ["component"],
            registry=r,
        )
        r.register(ProcessStats(process))


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


class ProcessStats(Collector):
    """CPU, memory and file descriptors of this process as alerting_process_*, labelled with which
    process it is: the two processes' samples then stay apart when their expositions are merged
    (adding up two start times would mean nothing)."""

    def __init__(self, process: str) -> None:
        self._process = process
        self._source = ProcessCollector(namespace="alerting", registry=None)

    def collect(self) -> Iterable[Metric]:
        for family in self._source.collect():
            family.samples = [
                s._replace(labels={**s.labels, "process": self._process}) for s in family.samples
            ]
            yield family
