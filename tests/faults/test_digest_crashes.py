"""A digest in flight when the worker is killed with SIGKILL: after the restart the same digest goes
again with the same msgUuid, so the robot, which drops a repeated msgUuid as DingTalk does, shows
every incident exactly once; and the robot never had to refuse for rate."""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tests import dingtalk_robot
from tests.faults.harness import (
    ServiceProcess,
    fault_policy,
    notification_states,
    produce_reports,
    service_env,
    summary,
    wait_for,
)
from tests.support import RobotRequest, free_port, serve

INCIDENTS = 30


@dataclass
class RealTimeRobot(dingtalk_robot.Robot):
    """The DingTalk robot on the wall clock, as the service process runs on it."""

    answers: list[int] = field(default_factory=list)

    def check(self, request: RobotRequest) -> tuple[int, str]:
        self.now = datetime.now(UTC)
        errcode, errmsg = super().check(request)
        self.answers.append(errcode)
        return errcode, errmsg


def members_shown(body: dict[str, Any]) -> int:
    """How many notifications one message carried: a digest's numbered lines, or one."""
    if body["msgtype"] != "markdown":
        return 1
    return len(re.findall(r"(?m)^\d+\. ", body["markdown"]["text"].replace("\n\n", "\n")))


async def test_a_digest_in_flight_at_kill_9_is_sent_again_as_the_same_digest(
    pg_url: str, kafka_bootstrap: str, tmp_path: Path
) -> None:
    robot = RealTimeRobot("tok", None, datetime.now(UTC))
    async with serve(robot, free_port()) as base:
        robot.url = f"{base}/robot/send?access_token=tok"
        policy = fault_policy(tmp_path / "policy.toml", ack="2s", timeout="2s")
        policy.write_text(
            policy.read_text().replace('type = "webhook"', 'type = "dingtalk"'), encoding="utf-8"
        )
        env = service_env(pg_url, kafka_bootstrap, policy, robot.url, ALERTING_SEND_LEASE_S="3")
        service = ServiceProcess(env, tmp_path / "service.log")
        service.start(ALERTING_FAILPOINTS="outbox.in_flight:1")
        try:
            await produce_reports(kafka_bootstrap, env, INCIDENTS, "D")
            await asyncio.to_thread(service.wait_crash, 60)
            at_kill = await notification_states(pg_url)
            assert at_kill.get("sending", 0) >= 1 and len(robot.received) >= 1

            service.start()

            async def all_sent() -> bool:
                return await notification_states(pg_url) == {"sent": INCIDENTS}

            await wait_for(all_sent, "every notification delivered after the restart")
        finally:
            service.stop_quietly()
    assert robot.answers == [0] * len(robot.received)  # nothing refused (a repeat is taken, not shown)
    assert sum(members_shown(body) for body in robot.shown) == INCIDENTS  # each incident once
    assert len(robot.received) > len(robot.shown)  # the digest in flight at the kill went twice
    summary(
        "kill-9 digest in flight",
        notifications=INCIDENTS,
        requests=len(robot.received),
        messages_shown=len(robot.shown),
        in_flight_at_kill=at_kill.get("sending", 0),
    )
