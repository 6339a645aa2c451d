"""Named crash points for fault-injection tests: `ALERTING_FAILPOINTS=consumer.after_db_commit:2`
kills the process with SIGKILL the 2nd time that point is reached. Unset in production: a no-op."""

from __future__ import annotations

import logging
import os
import signal

log = logging.getLogger(__name__)

POINTS = frozenset(
    {
        "consumer.mid_batch",  # half of a batch is stored, in the open transaction
        "consumer.before_db_commit",  # the whole batch is stored, not committed
        "consumer.after_db_commit",  # committed to the database, offsets not yet committed to Kafka
        "outbox.in_flight",  # a notification is marked as being sent and the request is on the wire
    }
)


class Failpoints:
    def __init__(self, spec: str) -> None:
        self._remaining: dict[str, int] = {}
        for item in filter(None, (part.strip() for part in spec.split(","))):
            name, _, count = item.partition(":")
            if name not in POINTS:
                raise ValueError(f"unknown failpoint {name!r}; known: {', '.join(sorted(POINTS))}")
            self._remaining[name] = int(count or "1")
        if self._remaining:
            log.warning("failpoints armed: %s", spec)

    def armed(self, name: str) -> bool:
        return name in self._remaining

    def hit(self, name: str) -> None:
        if name not in self._remaining:
            return
        self._remaining[name] -= 1
        if self._remaining[name] <= 0:
            log.warning("failpoint %s: killing the process", name)
            os.kill(os.getpid(), signal.SIGKILL)


NONE = Failpoints("")
