"""Rate limits of a channel, written in a policy as "COUNT/DURATION": "20/1m", "5/1s", "100/1m"."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated

from pydantic import BeforeValidator

from alerting.policy.durations import parse_duration

MOST = 1000  # slots are database rows, one per message a window allows


@dataclass(frozen=True, slots=True)
class RateLimit:
    """At most `count` messages in any `per` (a sliding window, as the providers count)."""

    count: int
    per: timedelta

    @property
    def rule(self) -> str:
        """The limit's name in the slots table, e.g. "20/60s": a changed limit gets new slots."""
        return f"{self.count}/{int(self.per.total_seconds())}s"


def parse_rate(text: str) -> RateLimit:
    """The limit written in `text`; ValueError with the accepted form."""
    count, slash, window = text.partition("/")
    if not slash or not count.strip().isdigit():
        raise ValueError(f"{text!r} is not a rate; write COUNT/DURATION, e.g. 20/1m or 5/1s")
    per = parse_duration(window)
    if not 1 <= int(count) <= MOST:
        raise ValueError(f"{text!r}: the count must be 1 to {MOST}")
    if per < timedelta(seconds=1):
        raise ValueError(f"{text!r}: the duration must be at least 1s")
    return RateLimit(int(count), per)


def _from_text(value: object) -> object:
    if isinstance(value, list | tuple):
        return tuple(parse_rate(v) if isinstance(v, str) else v for v in value)
    return value


# A policy field written as a list of rates, e.g. rate_limits = ["100/1m", "5/1s"].
RateLimits = Annotated[tuple[RateLimit, ...], BeforeValidator(_from_text)]
