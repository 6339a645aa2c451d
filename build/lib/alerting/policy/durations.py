"""Parse the policy's human durations: "90s", "15m", "2h", "1h30m", "3d"."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated

from pydantic import BeforeValidator

_FORM = re.compile(r"(?:(\d+)d)?\s*(?:(\d+)h)?\s*(?:(\d+)m)?\s*(?:(\d+)s)?")
LONGEST = timedelta(days=366)


def parse_duration(text: str) -> timedelta:
    """Return the duration written in `text`; raise ValueError with the accepted forms."""
    match = _FORM.fullmatch(text.strip())
    if not text.strip() or match is None:
        raise ValueError(f"{text!r} is not a duration; write e.g. 30s, 15m, 2h, 1h30m, 3d")
    days, hours, minutes, seconds = (int(g) if g else 0 for g in match.groups())
    if max(days, hours, minutes, seconds) > 10**6:
        raise ValueError(f"{text!r} is longer than {LONGEST.days} days")
    total = timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)
    if total > LONGEST:
        raise ValueError(f"{text!r} is longer than {LONGEST.days} days")
    return total


def _from_text(value: object) -> object:
    return parse_duration(value) if isinstance(value, str) else value


# A policy field written as a duration string.
Duration = Annotated[timedelta, BeforeValidator(_from_text)]
