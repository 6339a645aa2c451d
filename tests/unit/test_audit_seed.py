"""The auditors' benchmark seeder on tiny data: exactly the entries asked for, in chain order, in the
issue's proportions; checkpoints and reviews written as the product writes them; and a chain that the
product's own verifier accepts (SQLite)."""

from __future__ import annotations

from collections import Counter
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from alerting.accountability.chain import GENESIS_HASH
from alerting.domain import RECLASSIFY_TO, EntryKind
from bench.audit_chain import chain, checkpoint_kind
from bench.audit_gen import SeedParams, generate, township_names
from bench.audit_rows import FINDING_SHARES, US

# Enough townships that the monthly and quarterly duties (one slot per township and period) reach
# their shares.
PARAMS = SeedParams(8000, 200, first_day=date(2026, 1, 1), last_day=date(2026, 4, 30))
CHECKPOINT_KEYS = ["verified_through", "verified_hash", "entries_checked", "scope", "since"]
REVIEW_KEYS = {"decision", "reason", "reviewed_kind", "status_before", "reviewer_role"}


@pytest.fixture(scope="module")
def hashed() -> list[tuple[tuple[Any, ...], dict[str, Any], str]]:
    rows, prev = [], GENESIS_HASH
    for day in generate(PARAMS):
        done, prev = chain(day.entries, prev)
        rows += done
    return rows


def test_exactly_the_entries_asked_for_in_chain_order(hashed: list[Any]) -> None:
    assert [e[0] for e, _, _ in hashed] == list(range(1, PARAMS.entries + 1))
    recorded = [e[9] for e, _, _ in hashed]
    assert recorded == sorted(recorded)
    assert all(e[8] <= e[9] for e, _, _ in hashed)  # nothing is recorded before it happened
    prev = GENESIS_HASH
    for _, content, digest in hashed:  # each links to the one before
        assert content["prev_hash"] == prev
        prev = digest


def test_kinds_in_the_issues_proportions(hashed: list[Any]) -> None:
    kinds = Counter(e[1] for e, _, _ in hashed)
    share = {k: n / PARAMS.entries for k, n in kinds.items()}
    for kind, wanted in FINDING_SHARES.items():
        assert share.get(kind, 0) == pytest.approx(wanted, abs=0.35 * wanted + 0.004), kind
    assert share["review"] == pytest.approx(0.13, abs=0.04)
    assert kinds["checkpoint"] == PARAMS.days
    townships = set(township_names(PARAMS.townships, PARAMS.seed))
    for e, _, _ in hashed:
        if e[1] in ("unacknowledged", "forward_overdue"):
            assert e[7] == {"unacknowledged": "duty_officer", "forward_overdue": "county_office"}[e[1]]
        elif e[1] not in ("review", "checkpoint"):
            assert e[2] in townships and e[7] == e[2]  # township-side: the township answers for it


def test_checkpoints_as_the_product_will_write_them(hashed: list[Any]) -> None:
    by_id = {e[0]: (e, digest) for e, _, digest in hashed}
    previous, through = None, 0
    checkpoints = [(e, c) for e, c, _ in hashed if e[1] == "checkpoint"]
    for e, content in checkpoints:
        details = e[11]
        assert list(details) == CHECKPOINT_KEYS
        assert content["township"] is None and content["responsible"] == "system"
        assert content["occurred_at"] == content["recorded_at"]
        assert details["verified_through"] == e[0] - 1
        assert details["verified_hash"] == (by_id[e[0] - 1][1] if e[0] > 1 else GENESIS_HASH)
        assert details["scope"] == "since_checkpoint" and details["since"] == previous
        assert details["entries_checked"] == details["verified_through"] - through
        previous, through = e[0], details["verified_through"]
    after_last = PARAMS.entries - checkpoints[-1][0][0]
    per_day = PARAMS.entries / PARAMS.days
    assert 0.3 * per_day < after_last < 4 * per_day  # about the last day's entries


def test_reviews_as_append_review_writes_them(hashed: list[Any]) -> None:
    by_id = {e[0]: e for e, _, _ in hashed}
    reviews = [e for e, _, _ in hashed if e[1] == "review"]
    assert reviews
    decisions = Counter(e[11]["decision"] for e in reviews)
    assert decisions["confirm"] > decisions["waive"] > decisions["reclassify"] > 0
    for e in reviews:
        details, target = e[11], by_id[e[6]]
        assert e[6] < e[0] and target[1] not in ("review", "checkpoint")
        assert (e[2], e[3]) == (target[2], target[3])  # the target's township and incident
        assert e[8] == e[9]  # a review happens when it is recorded
        assert REVIEW_KEYS <= set(details) <= REVIEW_KEYS | {"to", "supersedes"}
        assert details["reviewed_kind"] == target[1]
        assert details["reviewer_role"] in ("info_section", "auditor")
        if details["decision"] == "reclassify":
            assert details["to"] in RECLASSIFY_TO[EntryKind(target[1])]
        if "supersedes" in details:
            earlier = by_id[details["supersedes"]]
            assert earlier[1] == "review" and earlier[6] == e[6] and earlier[0] < e[0]
            assert details["status_before"] == (
                "waived" if earlier[11]["decision"] == "waive" else "confirmed"
            )
        else:
            assert details["status_before"] == "pending"


def test_late_reports_have_their_report_and_deadline() -> None:
    reports, deadlines, late = set(), set(), []
    for day in generate(PARAMS):
        reports |= {r[0] for r in day.reports}
        deadlines |= {d[0] for d in day.deadlines}
        late += [e for e in day.entries if e[1] == "late_report"]
    assert late and all(e[4] in reports and e[5] in deadlines and e[10] >= 60 for e in late)
    assert all(0 < e[9] - e[8] < 3 * US for e in late)  # stored as it arrived


async def test_the_product_verifies_the_seeded_chain_on_sqlite(tmp_path: Path) -> None:
    from alerting.accountability.verify import verify_chain
    from alerting.storage.engine import create_engine, reading
    from bench import audit_seed

    small = SeedParams(3000, 10, first_day=date(2026, 10, 1), last_day=date(2026, 11, 30))
    seeded = await audit_seed.sqlite(small, tmp_path / "audit.db", reseed=True)
    engine = create_engine(seeded.url)
    try:
        async with reading(engine) as conn:
            with checkpoint_kind():
                report = await verify_chain(conn)
    finally:
        await engine.dispose()
    assert report.intact, report
    assert report.entries_checked == small.entries
