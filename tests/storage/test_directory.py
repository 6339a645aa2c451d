"""The directory as data against a real database: seeded from the policy once, then changed at run
time with its history kept; the roster's end arms a reminder and township_officer reads the register.

Times are UTC; the example roster (deploy/roster.example.csv) runs from 2026-11-26 08:30 local
(00:30Z) to 2026-11-30 08:30 local in four daily shifts."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from alerting.county import assignments, directory, officers
from alerting.domain import DeadlineKind, DeadlineState
from alerting.errors import ConflictError, NotFound, UnknownTownship
from alerting.policy.model import Policy
from alerting.policy.roster import Directory, Person, Shift
from alerting.storage.schema import deadlines, escalations
from escalation.directory import DirectoryWatch, load
from escalation.engine import Firing, fire_due
from tests.storage.test_rule_reports import HOUR, MICRO, entries, escalations_of, utc

NOW = utc(2026, 11, 26, 0)
ROSTER_END = utc(2026, 11, 30, 0, 30)
CSV_HEADER = "开始,结束,值班员,值班员电话,带班领导,带班领导电话\n"


async def seeded(engine: AsyncEngine, policy: Policy) -> None:
    async with engine.begin() as conn:
        assert await directory.seed_from_policy(conn, policy, NOW) is None


async def who(
    engine: AsyncEngine, policy: Policy, roles: list[str], at: datetime, town: str | None = None
) -> Any:
    async with engine.connect() as conn:
        people, unresolved = (await load(conn, policy, at)).resolve(roles, at, town)
    return [(p.role, p.name) for p in people], unresolved


async def roster_rows(engine: AsyncEngine) -> list[Any]:
    async with engine.connect() as conn:
        query = select(deadlines).where(deadlines.c.kind == DeadlineKind.ROSTER_GAP.value)
        return list((await conn.execute(query.order_by(deadlines.c.id))).all())


def shift(start: datetime, hours: int, name: str) -> Shift:
    return Shift(start=start, end=start + hours * HOUR, duty_officer=Person(name=name, phone="13900000009"))


async def test_the_policy_seeds_an_empty_database_once_and_resolves_as_it_did(
    engine: AsyncEngine, policy: Policy
) -> None:
    await seeded(engine, policy)
    from_policy = Directory(policy.roster, townships=policy.townships)
    roles = ["duty_officer", "leader_on_duty", "section_chief", "director", "township_leader"]
    async with engine.connect() as conn:
        from_db = await load(conn, policy, NOW)
        for at in (utc(2026, 11, 26, 1), utc(2026, 11, 28, 12), ROSTER_END - MICRO, ROSTER_END):
            assert from_db.resolve(roles, at, "城关镇") == from_policy.resolve(roles, at, "城关镇")
        assert [c["action"] for c in await directory.changes(conn)] == ["seeded"]
        posts = await directory.list_posts(conn, policy)
    assert await who(engine, policy, roles, utc(2026, 11, 26, 1), "梅林镇") == (
        [
            ("duty_officer", "王小明"),
            ("leader_on_duty", "李建国"),
            ("section_chief", "信息科 刘科长"),
            ("director", "县委办 陈主任"),
            ("township_leader", "梅林镇 党委办 王主任"),
        ],
        [],
    )
    assert [(p["role"], p["township"], p["holder"]["name"]) for p in posts] == [
        ("section_chief", None, "信息科 刘科长"),
        ("director", None, "县委办 陈主任"),
        ("fallback_duty_officer", None, "县委办总值班室"),
        ("township_leader", "城关镇", "城关镇 党委办 李主任"),
        ("township_leader", "梅林镇", "梅林镇 党委办 王主任"),
        ("township_leader", "青山乡", "青山乡 党委办 张主任"),
    ]
    async with engine.begin() as conn:  # a restart with the same policy: nothing to do
        assert await directory.seed_from_policy(conn, policy, NOW + HOUR) is None
        changed = policy.model_copy(update={"roster": policy.roster.model_copy(update={"shifts": ()})})
        stale = await directory.seed_from_policy(conn, changed, NOW + HOUR)
        assert [c["action"] for c in await directory.changes(conn)] == ["seeded"]
    assert stale is not None and "database's directory is in effect" in stale
    [gap] = await roster_rows(engine)
    assert (gap.township, gap.period, gap.due_at, gap.state, gap.context) == (
        "",
        "roster:20261130T0030@20261126T000000.000000",
        ROSTER_END - 24 * HOUR,
        "pending",
        {"title": "值班表排至 2026-11-30 08:30", "roster_ends_at": ROSTER_END.isoformat()},
    )


async def test_an_import_replaces_the_shifts_inside_its_span_and_keeps_them_in_history(
    engine: AsyncEngine, policy: Policy
) -> None:
    await seeded(engine, policy)
    new = (
        shift(utc(2026, 11, 28, 0, 30), 24, "孙七"),
        shift(utc(2026, 11, 29, 0, 30), 24, "周八"),
    )
    async with engine.begin() as conn:
        done = await directory.import_shifts(
            conn, policy, new, "信息科李四", "12月调整", "import", NOW + HOUR
        )
        active = await directory.list_shifts(conn, NOW, ROSTER_END + HOUR)
        everything = await directory.list_shifts(conn, NOW, ROSTER_END + HOUR, withdrawn=True)
        history = await directory.changes(conn)
        with pytest.raises(ConflictError, match="no shift"):
            await directory.import_shifts(conn, policy, (), "信息科李四", "", "import", NOW)
    assert (done.added, done.replaced) == (2, 2)
    assert [(s["duty_officer"]["name"], s["source"]) for s in active] == [
        ("王小明", "policy"),
        ("陈丽", "policy"),
        ("孙七", "import"),
        ("周八", "import"),
    ]
    assert [(s["duty_officer"]["name"], s["withdrawn_by"]) for s in everything] == [
        ("王小明", None),
        ("陈丽", None),
        ("刘洋", done.change_id),
        ("孙七", None),
        ("王小明", done.change_id),
        ("周八", None),
    ]
    assert [(c["action"], c["by"], c["note"], c["details"]) for c in history[:1]] == [
        (
            "imported",
            "信息科李四",
            "12月调整",
            {"added": 2, "replaced": 2, "from": new[0].start.isoformat(), "to": new[1].end.isoformat()},
        )
    ]
    assert await who(engine, policy, ["duty_officer"], utc(2026, 11, 28, 12)) == (
        [("duty_officer", "孙七")],
        [],
    )


async def test_a_swap_wins_over_the_shift_it_covers_until_it_is_withdrawn(
    engine: AsyncEngine, policy: Policy
) -> None:
    await seeded(engine, policy)
    local_noon = utc(2026, 11, 26, 4)
    async with engine.begin() as conn:
        added = await directory.add_shift(
            conn, policy, shift(local_noon, 6, "赵九"), "信息科", "调班", "api", NOW
        )
    assert await who(engine, policy, ["duty_officer"], local_noon + HOUR) == ([("duty_officer", "赵九")], [])
    assert await who(engine, policy, ["duty_officer"], local_noon + 6 * HOUR) == (
        [("duty_officer", "王小明")],
        [],
    )
    async with engine.begin() as conn:
        withdrawn = await directory.withdraw_shift(
            conn, policy, added["id"], "信息科", "调班取消", NOW + HOUR
        )
        with pytest.raises(ConflictError, match="already withdrawn"):
            await directory.withdraw_shift(conn, policy, added["id"], "信息科", "again", NOW + HOUR)
        with pytest.raises(NotFound):
            await directory.withdraw_shift(conn, policy, 99999, "信息科", "none", NOW + HOUR)
    assert withdrawn["withdrawn_by"] is not None
    assert await who(engine, policy, ["duty_officer"], local_noon + HOUR) == (
        [("duty_officer", "王小明")],
        [],
    )


async def test_posts_change_hands_and_bad_changes_are_refused(engine: AsyncEngine, policy: Policy) -> None:
    await seeded(engine, policy)
    zhou = Person(name="信息科 周科长", phone="0791-80000011")
    async with engine.begin() as conn:
        await directory.set_post(conn, policy, "section_chief", None, zhou, "县委办", "刘科长调任", NOW)
        await directory.set_post(conn, policy, "director", None, None, "县委办", "主任空缺", NOW)
        await directory.set_post(
            conn,
            policy,
            "township_leader",
            "城关镇",
            Person(name="城关镇 党委办 吴主任", phone="13800000109"),
            "县委办",
            "换届",
            NOW,
        )
        with pytest.raises(NotFound, match="no post mayor"):
            await directory.set_post(conn, policy, "mayor", None, zhou, "县委办", "", NOW)
        with pytest.raises(UnknownTownship):
            await directory.set_post(conn, policy, "township_leader", None, zhou, "县委办", "", NOW)
        with pytest.raises(ConflictError, match="county post"):
            await directory.set_post(conn, policy, "section_chief", "城关镇", zhou, "县委办", "", NOW)
        history = await directory.changes(conn, limit=3)
    assert await who(engine, policy, ["section_chief", "director", "township_leader"], NOW, "城关镇") == (
        [("section_chief", "信息科 周科长"), ("township_leader", "城关镇 党委办 吴主任")],
        ["director"],
    )
    assert [(c["action"], c["note"], c["details"]) for c in history] == [
        ("post_set", "换届", {"role": "township_leader", "township": "城关镇", "vacant": False}),
        ("post_set", "主任空缺", {"role": "director", "township": "", "vacant": True}),
        ("post_set", "刘科长调任", {"role": "section_chief", "township": "", "vacant": False}),
    ]


async def test_the_township_officer_is_whoever_holds_a_term_on_the_local_day(
    engine: AsyncEngine, policy: Policy
) -> None:
    term = officers.Term("城关镇", "王五", "13800000201", "full_time", date(2026, 1, 1), date(2026, 11, 27))
    async with engine.begin() as conn:
        await officers.register(conn, term, policy, "信息科", "", NOW)
    last_evening = utc(2026, 11, 27, 15, 59)  # 23:59 local on the term's last day
    assert await who(engine, policy, ["township_officer"], last_evening, "城关镇") == (
        [("township_officer", "王五")],
        [],
    )
    assert await who(engine, policy, ["township_officer"], last_evening + timedelta(minutes=1), "城关镇") == (
        [],
        ["township_officer"],
    )
    assert await who(engine, policy, ["township_officer"], last_evening, "梅林镇") == (
        [],
        ["township_officer"],
    )


async def test_the_watch_reloads_only_after_a_change(engine: AsyncEngine, policy: Policy) -> None:
    await seeded(engine, policy)
    watch = DirectoryWatch(policy)
    async with engine.begin() as conn:
        first = await watch.current(conn, NOW)
        assert await watch.current(conn, NOW + HOUR) is first
        await directory.set_post(
            conn, policy, "section_chief", None, Person(name="周科长", phone="0791-1"), "县委办", "", NOW
        )
        second = await watch.current(conn, NOW + HOUR)
        assert second is not first
        term = officers.Term("青山乡", "钱七", "13800000301", "part_time", date(2026, 11, 1))
        await officers.register(conn, term, policy, "信息科", "", NOW)
        third = await watch.current(conn, NOW + HOUR)
    assert third is not second
    assert third.resolve(["section_chief", "township_officer"], NOW, "青山乡")[0][1].name == "钱七"


async def test_a_roster_about_to_run_out_reminds_the_section_chief_and_writes_no_entry(
    engine: AsyncEngine, policy: Policy
) -> None:
    await seeded(engine, policy)
    due = ROSTER_END - 24 * HOUR

    async def fire(at: datetime) -> list[Any]:
        async with engine.begin() as conn:
            return await fire_due(conn, Firing(policy, await load(conn, policy, at)), at)

    assert await fire(due - MICRO) == []
    [first] = await fire(due)
    [second] = await fire(due + 4 * HOUR)
    assert (first.kind, first.entry_kind, second.round) == (DeadlineKind.ROSTER_GAP, None, 1)
    [gap] = await roster_rows(engine)
    assert [e.recipients for e in await escalations_of(engine, gap.id)] == [
        [{"role": "section_chief", "name": "信息科 刘科长"}],
        [{"role": "section_chief", "name": "信息科 刘科长"}, {"role": "director", "name": "县委办 陈主任"}],
    ]
    assert await entries(engine) == []  # a reminder about the county's own roster: no finding
    extension = shift(ROSTER_END, 48, "孙七")
    async with engine.begin() as conn:
        added = await directory.add_shift(conn, policy, extension, "信息科", "续排", "api", due + 5 * HOUR)
    old, new = await roster_rows(engine)
    assert (old.state, new.context["roster_ends_at"], new.due_at, new.state) == (
        DeadlineState.EXHAUSTED.value,  # both steps were sent
        extension.end.isoformat(),
        extension.end - 24 * HOUR,
        "pending",
    )
    async with engine.begin() as conn:  # withdrawn: the roster ends where it did, and is reminded again
        await directory.withdraw_shift(conn, policy, added["id"], "信息科", "录错", due + 6 * HOUR)
        unchanged = await directory.add_shift(
            conn, policy, shift(NOW, 1, "钱七"), "信息科", "", "api", due + 7 * HOUR
        )
    _, settled, again = await roster_rows(engine)
    assert (settled.state, settled.met_by) == (DeadlineState.MET.value, "roster changed")
    assert (again.context["roster_ends_at"], again.due_at, again.state) == (
        ROSTER_END.isoformat(),
        due + 6 * HOUR,  # already within the day: due at once
        "pending",
    )
    assert unchanged["starts_at"] == NOW.isoformat()  # a change that leaves the end alone arms nothing


async def test_an_assignment_reminder_reaches_the_township_officer_where_one_serves(
    engine: AsyncEngine, policy: Policy
) -> None:
    given = utc(2026, 3, 2, 2)
    due, reminder = utc(2026, 3, 10, 16), utc(2026, 3, 8, 16)
    term = officers.Term("城关镇", "王五", "13800000201", "full_time", date(2026, 1, 1))
    async with engine.begin() as conn:
        await directory.seed_from_policy(conn, policy, given)
        await officers.register(conn, term, policy, "信息科", "", given)
        new = assignments.NewAssignment("春耕备耕工作信息", "请报送进展", due, ("城关镇", "梅林镇"))
        await assignments.create(conn, new, policy, "信息科李四", given)
        fired = await fire_due(conn, Firing(policy, await load(conn, policy, reminder)), reminder)
        sent = (
            await conn.execute(
                select(escalations.c.township, escalations.c.recipients)
                .where(escalations.c.deadline_id.in_([f.deadline_id for f in fired]))
                .order_by(escalations.c.township)
            )
        ).all()
    assert {f.kind for f in fired} == {DeadlineKind.ASSIGNMENT_REMINDER}
    assert [(row.township, row.recipients) for row in sent] == [
        (
            "城关镇",
            [
                {"role": "township_officer", "name": "王五"},
                {"role": "township_leader", "name": "城关镇 党委办 李主任"},
            ],
        ),
        ("梅林镇", [{"role": "township_leader", "name": "梅林镇 党委办 王主任"}]),
    ]
