"""500 follow-ups due at 08:00 for one WeCom robot that takes 20 messages a minute.

Follow-up deadlines of 500 open incidents are seeded due together a few seconds ahead; the whole
Service runs in this process on the wall clock, its escalations going to a `wecom` channel (markdown)
whose robot listens on 127.0.0.1 and refuses a 21st message in any minute with errcode 45009, as
WeCom does. Figures: when the last incident reached the group (after the due time), the messages,
the robot's refusals, and the incidents shown more than once."""

from __future__ import annotations

import re
import uuid
from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from bench.common import Result, Row, free_port, log, until, utcnow
from bench.seeding import seed
from bench.services import Env, service_running

LEAD = timedelta(seconds=4)
TARGET = timedelta(minutes=2)


def robot_class() -> Any:
    from tests.support import RobotRequest
    from tests.wecom_robot import Robot

    @dataclass
    class WallClockRobot(Robot):
        """The tests' WeCom robot (its checks and limits) on the wall clock."""

        answers: list[tuple[float, int]] = field(default_factory=list)

        def check(self, request: RobotRequest) -> tuple[int, str]:
            self.now = datetime.now(UTC)
            errcode, errmsg = super().check(request)
            self.answers.append((self.now.timestamp(), errcode))
            return errcode, errmsg

    return WallClockRobot


async def burst(env: Env, backend: str, n: int, kind: str = "followup") -> dict[str, float]:
    from alerting.policy.channels import WecomChannel
    from tests.support import serve

    url = await env.database(backend, f"digests_{kind}_{backend}")  # a file of its own per burst
    prefix = f"F{uuid.uuid4().hex[:6]}"
    due = utcnow() + LEAD
    await seed(url, [due] * n, prefix, kinds=(kind,))
    robot = robot_class()("bench-robot-key", datetime.now(UTC))
    async with serve(robot, free_port()) as base:
        robot.url = f"{base}/cgi-bin/webhook/send?key=bench-robot-key"
        channel = WecomChannel(type="wecom", url=robot.url, format="markdown")
        policy = env.policy.model_copy(
            update={"channels": {**env.policy.channels, "county_webhook": channel}}
        )
        async with service_running(env, url, policy=policy):

            async def all_shown() -> bool:
                return len({i for body in robot.shown for i in _shown(body)}) >= n

            await until(all_shown, 600, f"{n} incidents shown in the group", every=0.5)
    counted = Counter(i for body in robot.shown for i in _shown(body))
    accepted = [at for at, code in robot.answers if code == 0]
    sizes = [len(body["markdown"]["content"].encode()) for body in robot.shown]
    return {
        "incidents": n,
        "last_shown_s": round(max(accepted) - due.timestamp(), 2),
        "messages": len(robot.shown),
        "refusals": sum(1 for _at, code in robot.answers if code != 0),
        "duplicates": sum(c - 1 for c in counted.values()),
        "largest_message_bytes": max(sizes),
    }


def _shown(body: dict[str, Any]) -> list[str]:
    """The incidents a message lists, by their titles (基准测试事件N)."""
    return re.findall(r"基准测试事件(\d+)", body["markdown"]["content"])


async def run(env: Env) -> Result:
    n = 60 if env.quick else 500
    result = Result(details={"method": __doc__.split("\n\n")[1].replace("\n", " ")})
    for backend in env.slow_backends:
        figures = await burst(env, backend, n)
        _note(
            result,
            f"{backend}",
            figures,
            f"digests {backend}: {n:,} follow-ups at 08:00, one WeCom robot (20/min)",
        )
        met = (
            figures["last_shown_s"] <= TARGET.total_seconds()
            and not figures["refusals"]
            and not figures["duplicates"]
        )
        result.rows[-1] = replace(
            result.rows[-1], target="all within 2 min, 0 refusals, 0 duplicates", met=met
        )
    # The same burst of acknowledgements overdue: each incident carries its people's own links, so a
    # message holds fewer of them (for the record; no target).
    backend = env.backends[0]
    figures = await burst(env, backend, n, kind="ack")
    _note(
        result,
        f"{backend}_ack",
        figures,
        f"digests {backend}: {n:,} acknowledgements overdue, links per person",
    )
    return result


def _note(result: Result, name: str, figures: dict[str, float], what: str) -> None:
    log(
        f"{what}: last shown {figures['last_shown_s']} s after due, {figures['messages']} messages, "
        f"{figures['refusals']} refusals, {figures['duplicates']} duplicates"
    )
    result.details[name] = figures
    for key, value in figures.items():
        result.figures[f"{name}_{key}"] = value
    shown = (
        f"all shown {figures['last_shown_s']:.1f} s after due, {figures['messages']} messages, "
        f"{figures['refusals']} refusals, {figures['duplicates']} duplicates"
    )
    # Not scaled: the robot's 20 a minute sets the pace, not the machine.
    result.rows.append(Row(what, shown, "— (no target)", None, "— (paced by the robot)"))
