"""The parent's /metrics adds its worker's samples to its own (alerting.metrics.merge_expositions)."""

from __future__ import annotations

from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from alerting.metrics import Metrics, merge_expositions


def _samples(text: bytes) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text.decode())
        for s in family.samples
    }


def test_samples_of_both_processes_add_up_and_created_keeps_the_earliest() -> None:
    api, worker = Metrics(), Metrics()
    api.reports_dlq.inc(2)
    worker.reports_dlq.inc(3)
    worker.escalations.labels(kind="ack").inc()
    worker.deadlines_pending.set(7)  # set by the worker only: the API's 0 leaves it as it is
    worker.firing_lateness.observe(0.02)
    api.firing_lateness.observe(0.3)
    a = generate_latest(api.registry).decode()
    w = generate_latest(worker.registry).decode()
    merged = _samples(merge_expositions(a, w))

    assert merged[("alerting_reports_dlq_total", ())] == 5
    assert merged[("alerting_escalations_total", (("kind", "ack"),))] == 1
    assert merged[("alerting_deadlines_pending", ())] == 7
    assert merged[("alerting_deadline_firing_lateness_seconds_count", ())] == 2
    assert merged[("alerting_deadline_firing_lateness_seconds_bucket", (("le", "0.025"),))] == 1
    assert merged[("alerting_deadline_firing_lateness_seconds_bucket", (("le", "0.5"),))] == 2
    created = ("alerting_reports_dlq_created", ())
    assert merged[created] == min(_samples(a.encode())[created], _samples(w.encode())[created])


def test_each_family_is_described_once() -> None:
    text = merge_expositions(
        generate_latest(Metrics().registry).decode(), generate_latest(Metrics().registry).decode()
    ).decode()
    assert text.count("# TYPE alerting_reports_received_total counter") == 1
    assert text.count("# HELP alerting_deadlines_pending ") == 1


def test_process_figures_stay_apart_when_merged() -> None:
    """Two processes' start times added up would mean nothing: each keeps its own, by label."""
    main, worker = Metrics("main"), Metrics("worker")
    merged = _samples(
        merge_expositions(generate_latest(main.registry).decode(), generate_latest(worker.registry).decode())
    )
    own = _samples(generate_latest(main.registry))
    key = "alerting_process_start_time_seconds"
    assert merged[(key, (("process", "main"),))] == own[(key, (("process", "main"),))]
    assert (key, (("process", "worker"),)) in merged
