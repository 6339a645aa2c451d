"""The auditors' side at ten years of a province: filtered entries (first and deep pages), totals,
bulletin drafts, CSV/XLSX exports and chain verification on a seeded log of 10,000,000 entries and
2,000 townships on PostgreSQL (1,000,000 entries of a county's 25 townships on SQLite).

The log is generated (bench/audit_gen.py: incidents, duties, reviews, a checkpoint a day, hash-chained
with the product's own hashing), written directly (COPY on PostgreSQL) and cached between runs
(bench/audit_seed.py; `--reseed` writes it again). The entries queries, totals and bulletin drafts go
through the HTTP API in this process (bench/audit_queries.py), each case within a time budget; the
exports through `alerting run` in its own process (bench/audit_exports.py); the verification in a
fresh interpreter (bench/audit_verify.py). The plans of the entries and totals queries are written to
bench/results/auditors-explain.txt (bench/audit_explain.py)."""

from __future__ import annotations

import math
import os
import uuid
from typing import Any

from bench import audit_explain, audit_exports, audit_queries, audit_seed, audit_verify
from bench.audit_gen import busiest
from bench.audit_seed import Seeded
from bench.common import Result, Row, log
from bench.services import Env

P99_MS, TOTALS_S, BULLETIN_S = 100.0, 1.0, 2.0
EXPORT_FIRST_S, EXPORT_WHOLE_S, EXPORT_RSS_MB, EXPORT_ADDED = 1.0, 60.0, 100.0, 0.10
VERIFY_S, SINCE_S, VERIFY_RSS_MB, LOOP_LAG_MS = 60.0, 1.0, 50.0, 100.0
MB = 1024 * 1024
PARTS = ("queries", "exports", "verification")


def _parts() -> set[str]:
    """BENCH_AUDIT_PARTS picks some of the measurement's parts (default all), to rerun one."""
    chosen = {p.strip() for p in os.environ.get("BENCH_AUDIT_PARTS", ",".join(PARTS)).split(",") if p.strip()}
    unknown = chosen - set(PARTS)
    if unknown:
        raise SystemExit(
            f"BENCH_AUDIT_PARTS: unknown {', '.join(sorted(unknown))}; choose from {', '.join(PARTS)}"
        )
    return chosen


def _sizes(quick: bool) -> dict[str, Any]:
    budget = float(os.environ.get("BENCH_AUDIT_CASE_BUDGET_S", 15 if quick else 120))
    return {
        "requests": 5 if quick else 50,
        "budget": budget,
        "totals": 2 if quick else 5,
        "bulletins": 1 if quick else 3,
        "export_timeout": 30.0 if quick else float(os.environ.get("BENCH_AUDIT_EXPORT_TIMEOUT_S", 180)),
        "baseline": 3.0 if quick else 20.0,
        "verify_timeout": 120.0 if quick else float(os.environ.get("BENCH_AUDIT_VERIFY_TIMEOUT_S", 900)),
    }


async def _seeded(env: Env, backend: str) -> Seeded:
    params = audit_seed.params_for(backend, env.quick)
    if not env.quick:  # the cached copy
        if backend == "postgresql":
            return await audit_seed.postgres(params, reseed=env.reseed)
        return await audit_seed.sqlite(params, reseed=env.reseed)
    if backend == "postgresql":  # quick: a throwaway database, dropped with the others at the end
        name = f"bench_audit_quick_{uuid.uuid4().hex[:8]}"
        env._pg_databases.append(name)
        return await audit_seed.postgres(params, database=name, reseed=True)
    return await audit_seed.sqlite(params, env.workdir / "audit-quick.db", reseed=True)


class _Out:
    """Figures (finite numbers only) and rows of one backend."""

    def __init__(self, result: Result, backend: str, label: str, env: Env) -> None:
        self.result, self.backend, self.label = result, backend, label
        try:
            self._scale: float | None = env.calibration.python_score  # durations × score
        except RuntimeError:
            self._scale = None  # run without a calibration

    def figure(self, key: str, value: Any) -> None:
        if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
            self.result.figures[f"{self.backend}_{key}"] = value

    def row(self, what: str, figure: str, target: str, met: bool | None) -> None:
        self.result.rows.append(Row(f"auditors {what} ({self.label})", figure, target, met))

    def timed_row(
        self, what: str, figure: str, target: str, seconds: float | None, limit_s: float, otherwise: bool
    ) -> None:
        """A row whose target is a duration: met when `otherwise` holds and `seconds` ≤ `limit_s`, at
        this run's calibration and at the reference's."""
        if seconds is None or not math.isfinite(seconds):
            self.row(what, figure, target, False)
            return
        met = otherwise and seconds <= limit_s
        if self._scale is None:
            self.row(what, figure, target, met)
            return
        scaled = seconds * self._scale
        shown = f"{scaled * 1000:,.1f} ms" if limit_s < 1 else f"{scaled:,.2f} s"
        row = Row(
            f"auditors {what} ({self.label})", figure, target, met, shown, otherwise and scaled <= limit_s
        )
        self.result.rows.append(row)


def _timed_figure(f: dict[str, Any], wanted: int, percentile: str = "p99") -> tuple[str, bool]:
    """A case's text and whether it completed its requests."""
    if f.get("error"):
        return f"FAILED: {f['error'][:80]}", False
    if not f.get("count"):
        cold = f.get("cold_ms") or []
        if cold:
            return f"timed out: a request took {cold[0] / 1000:.1f} s, no timed requests in the budget", False
        if f.get("note") and not f.get("timed_out"):
            return f"— ({f['note']})", False
        return f"timed out: no answer within the budget {f.get('note', '')}".rstrip(), False
    done = f["count"] >= wanted and not f.get("timed_out")
    short = "" if done else f", only {f['count']} of {wanted} within the budget"
    note = f"; {f['note']}" if f.get("note") else ""
    high = f"p99 {f['p99_ms']:.1f}" if percentile == "p99" else f"max {f['max_ms']:.1f}"
    return f"p50 {f['p50_ms']:.1f} / {high} ms ({f['count']} requests{short}{note})", done


async def _in_process(env: Env, seeded: Seeded, out: _Out, sizes: dict[str, Any], first: bool) -> None:
    township = busiest(seeded.params)
    n, budget = sizes["requests"], sizes["budget"]
    async with audit_queries.api_client(env, seeded) as (client, service):
        cold = await audit_queries.warm(client, township, 5 * budget)
        out.result.details[out.backend]["cold_first_request_s"] = cold
        out.figure("cold_first_request_s", cold)
        shown = "no answer within the limit" if cold is None else f"{cold:.1f} s"
        out.row("entries: a first request on a cold cache (untimed warm-up)", shown, "—", None)
        cases = await audit_queries.entries(client, township, n, budget)
        out.result.details[out.backend]["entries"] = cases
        for name, case in cases.items():
            for page in ("first", "deep"):
                f = case[page]
                text, done = _timed_figure(f, n)
                slug = name.split(" ")[0].replace("+", "_")
                out.figure(f"entries_{slug}_{page}_p99_ms", f.get("p99_ms"))
                shown = "first page" if page == "first" else "a deep cursor page"
                p99 = f.get("p99_ms")
                out.timed_row(
                    f"entries {name}, {shown}",
                    text,
                    f"p99 ≤ {P99_MS:g} ms",
                    None if p99 is None else p99 / 1000,
                    P99_MS / 1000,
                    done,
                )
        totals = await audit_queries.totals(client, sizes["totals"], budget)
        out.result.details[out.backend]["totals"] = totals
        text, done = _timed_figure(totals, sizes["totals"], "max")
        out.figure("totals_year_max_ms", totals.get("max_ms"))
        worst = totals.get("max_ms")
        seconds = None if worst is None else worst / 1000
        out.timed_row(
            "totals per township and kind, 2025", text, f"≤ {TOTALS_S:g} s", seconds, TOTALS_S, done
        )
        drafts = await audit_queries.bulletins(client, sizes["bulletins"], budget)
        out.result.details[out.backend]["bulletins"] = drafts
        for name, shown in (
            ("quarter", "quarterly bulletin draft 2026-Q3"),
            ("year", "year-end ranking draft 2025"),
        ):
            text, done = _timed_figure(drafts[name], sizes["bulletins"], "max")
            out.figure(f"bulletin_{name}_max_ms", drafts[name].get("max_ms"))
            worst = drafts[name].get("max_ms")
            seconds = None if worst is None else worst / 1000
            out.timed_row(shown, text, f"≤ {BULLETIN_S:g} s each", seconds, BULLETIN_S, done)
        requests = []
        for name, case in cases.items():
            requests.append((f"{name}, first page", audit_queries.ENTRIES, case["params"]))
            if case.get("cursor"):
                requests.append(
                    (
                        f"{name}, deep page",
                        audit_queries.ENTRIES,
                        {**case["params"], "cursor": case["cursor"]},
                    )
                )
        requests.append(
            (
                "totals 2025",
                f"{audit_queries.ENTRIES}/totals",
                dict(zip(("since", "until"), audit_queries.YEAR, strict=True)),
            )
        )
        explained = await audit_explain.explain(
            client, service, out.label, requests, min(30.0, budget), min(60.0, budget), append=not first
        )
        out.result.details[out.backend]["explained_statements"] = explained


def _light(load: dict[str, Any]) -> str:
    answered = load.get("count", 0)
    errors = ", ".join(f"{n} × {k}" for k, n in (load.get("errors") or {}).items())
    p99 = f"p99 {load['p99_ms']:,.0f} ms, " if answered else "no answer, "
    return f"{p99}{answered} of {load.get('offered', 0)} answered, {load.get('dropped', 0)} not sent" + (
        f", errors {errors}" if errors else ""
    )


async def _exports(env: Env, seeded: Seeded, out: _Out, sizes: dict[str, Any]) -> None:
    target = 1_000_000 if seeded.backend == "postgresql" else seeded.params.entries // 10
    if env.quick:
        target = seeded.params.entries // 2
    found = await audit_exports.measure(env, seeded, target, sizes["export_timeout"], sizes["baseline"])
    out.result.details[out.backend]["exports"] = found
    alone = found["baseline"]["light_query"]
    base = alone.get("p99_ms", math.nan) if alone.get("count") else math.nan
    out.figure("light_query_alone_p99_ms", base)
    for fmt in ("csv", "xlsx"):
        e = found[fmt]
        growth = e["rss_growth"] / MB
        for key, value in (
            ("first_bytes_s", e["first_bytes_s"]),
            ("seconds", e["seconds"]),
            ("rss_growth_mb", growth),
        ):
            out.figure(f"export_{fmt}_{key}", value)
        first = "no bytes" if e["first_bytes_s"] is None else f"first bytes {e['first_bytes_s']:.2f} s"
        size = f"{e['bytes'] / MB:,.0f} MB" + (f", {e['rows']:,} rows" if e["rows"] is not None else "")
        if e["finished"]:
            whole = f"whole {e['seconds']:.1f} s ({size})"
        else:
            whole = f"timed out at {e['seconds']:.0f} s ({size} so far)"
            if e["rows"]:
                whole += f", at that rate ~{e['seconds'] * target / e['rows']:,.0f} s for all"
        met = (
            e["finished"]
            and e["status"] == 200
            and (e["first_bytes_s"] or math.inf) <= EXPORT_FIRST_S
            and e["seconds"] <= EXPORT_WHOLE_S
            and growth <= EXPORT_RSS_MB
        )
        out.row(
            f"{fmt.upper()} export of ~{target:,} rows (the last {found['days']} days)",
            f"{first}, {whole}; service RSS +{growth:,.0f} MB",
            f"streamed: first bytes ≤ {EXPORT_FIRST_S:g} s, whole ≤ {EXPORT_WHOLE_S:g} s, "
            f"RSS ≤ +{EXPORT_RSS_MB:g} MB",
            bool(met),
        )
        during = found[f"{fmt}_loaded"]["light_query"]
        loaded = during.get("p99_ms", math.nan) if during.get("count") else math.nan
        added = loaded / base - 1 if base and math.isfinite(base) else math.nan
        out.figure(f"export_{fmt}_light_query_p99_ms", loaded)
        shown = f" ({added:+.0%})" if math.isfinite(added) else ""
        out.row(
            f"a light query at {audit_exports.RATE:g}/s beside the {fmt.upper()} export",
            f"alone: {_light(alone)}; beside it: {_light(during)}{shown}",
            f"p99 ≤ +{EXPORT_ADDED:.0%}",
            math.isfinite(added) and added <= EXPORT_ADDED and not during.get("dropped"),
        )


async def _verification(seeded: Seeded, out: _Out, sizes: dict[str, Any]) -> None:
    full = audit_verify.run("full", seeded.url, sizes["verify_timeout"])
    sample = min(1_000_000, seeded.params.entries)
    alone = audit_verify.run("hashlib", seeded.url, sizes["verify_timeout"], sample)
    since = audit_verify.run("since", seeded.url, sizes["verify_timeout"])
    out.result.details[out.backend]["verification"] = {"full": full, "hashlib": alone, "since": since}
    log(f"auditors verification ({seeded.label}): {full}; hashlib {alone}; since {since}")
    report = full.get("report") or {}
    checked = report.get("entries_checked", 0)
    hashing = alone["per_entry_us"] * seeded.params.entries / 1e6
    ratio = full["seconds"] / hashing if hashing else math.nan
    growth = (full["rss_peak"] - full["rss_before"]) / MB
    for key, value in (
        ("verify_s", full["seconds"]),
        ("verify_hashlib_ratio", ratio),
        ("verify_rss_growth_mb", growth),
    ):
        out.figure(key, value)
    out.figure("verify_loop_lag_max_ms", full.get("loop_lag_max_ms"))
    state = "intact" if report.get("intact") else f"NOT intact: {report}" if report else "timed out"
    note = (
        "; checkpoint kind registered for the product's verifier"
        if full.get("checkpoint_kind_registered")
        else ""
    )
    figure = (
        f"{full['seconds']:.1f} s, {checked:,} entries {state} ({checked / full['seconds']:,.0f}/s); "
        f"RSS {full['rss_before'] / MB:.0f} → {full['rss_after'] / MB:.0f} MB "
        f"(peak {full['rss_peak'] / MB:.0f}); "
        f"event-loop lag p99 {full['loop_lag_p99_ms']} / max {full['loop_lag_max_ms']} ms; "
        f"{ratio:.1f}× hashlib alone ({hashing:.1f} s){note}"
    )
    otherwise = (
        report.get("intact") is True
        and growth <= VERIFY_RSS_MB
        and (full["loop_lag_p99_ms"] or 0) <= LOOP_LAG_MS
    )
    target = f"≤ {VERIFY_S:g} s, constant memory, off the event loop"
    out.timed_row("full chain verification", figure, target, full["seconds"], VERIFY_S, bool(otherwise))
    if not since.get("available"):
        out.row(
            "verification since the last checkpoint",
            "not available (verify_chain has no since_checkpoint yet)",
            f"≤ {SINCE_S:g} s",
            None,
        )
        return
    checked = (since.get("report") or {}).get("entries_checked", 0)
    out.figure("verify_since_checkpoint_s", since["seconds"])
    out.timed_row(
        "verification since the last checkpoint",
        f"{since['seconds']:.2f} s, {checked:,} entries",
        f"≤ {SINCE_S:g} s",
        since["seconds"],
        SINCE_S,
        (since.get("report") or {}).get("intact") is True,
    )


async def run(env: Env) -> Result:
    result = Result(details={"method": __doc__.split("\n\n")[1].replace("\n", " ")})
    sizes = _sizes(env.quick)
    parts = _parts()
    for n, backend in enumerate(env.backends):
        seeded = await _seeded(env, backend)
        out = _Out(result, backend, seeded.label, env)
        info = seeded.info
        result.details[backend] = {"seed": info, "url": seeded.url, "policy": str(seeded.policy_path)}
        seconds = (info.get("timings") or {}).get("seed_s", math.nan)
        out.figure("seed_s", seconds)
        out.figure("size_gb", info.get("size_bytes", 0) / 1e9)
        how = "cached, seeded in" if seeded.cached else "seeded in"
        size = info.get("size_bytes", 0)
        shown = f"{size / 1e9:.1f} GB" if size >= 1e9 else f"{size / 1e6:.0f} MB"
        out.row("data", f"{shown}; {how} {seconds:.0f} s", "—", None)
        if "queries" in parts:
            await _in_process(env, seeded, out, sizes, first=n == 0)
        if "exports" in parts and (not env.quick or n == 0):
            await _exports(env, seeded, out, sizes)
        if "verification" in parts:
            await _verification(seeded, out, sizes)
    return result
