"""Load the policy TOML file: expand ${ENV} references, validate, and name the bad key and its line."""

from __future__ import annotations

import itertools
import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import ValidationError

from alerting.domain import DeadlineKind, Level
from alerting.errors import PolicyError
from alerting.policy.model import Policy
from alerting.policy.roster import load_shifts_csv

_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def _expand_env(node: Any, env: Mapping[str, str], path: str) -> Any:
    if isinstance(node, str):

        def sub(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in env or env[name] == "":
                raise PolicyError(f"environment variable {name} is not set", key=path)
            return env[name]

        return _ENV_REF.sub(sub, node)
    if isinstance(node, dict):
        return {k: _expand_env(v, env, f"{path}.{k}" if path else k) for k, v in node.items()}
    if isinstance(node, list):
        return [_expand_env(v, env, f"{path}[{i}]") for i, v in enumerate(node)]
    return node


def _header(keys: list[str]) -> re.Pattern[str]:
    parts = [f'(?:"{re.escape(k)}"|{re.escape(k)})' for k in keys]
    return re.compile(r"^\s*\[\[?\s*" + r"\s*\.\s*".join(parts) + r"\s*\]\]?")


def _line_of(text: str, loc: tuple[int | str, ...]) -> int | None:
    """Best-effort 1-based line of the key at `loc` in the TOML source (its table header if absent)."""
    lines = text.splitlines()
    any_header = re.compile(r"^\s*\[")
    parts = list(loc)
    for cut in range(len(parts), -1, -1):
        head, rest = parts[:cut], parts[cut:]
        if not all(isinstance(p, str) for p in head):
            continue
        start, end = 0, len(lines)
        if head:
            found = [i for i, ln in enumerate(lines) if _header([str(p) for p in head]).match(ln)]
            if not found:
                continue
            index = 0
            if rest and isinstance(rest[0], int):  # the n-th [[array.of.tables]]
                index, rest = rest[0], rest[1:]
            start = found[min(index, len(found) - 1)]
            end = next((i for i in range(start + 1, len(lines)) if any_header.match(lines[i])), len(lines))
        else:
            end = next((i for i, ln in enumerate(lines) if any_header.match(ln)), len(lines))
        line: int | None = start if head else None
        skip = 0  # an index into an inline array: the key's (skip+1)-th occurrence
        for part in rest:
            if isinstance(part, int):
                skip = part
                continue
            pattern = re.compile(r'(^|[\s{,])"?' + re.escape(part) + r'"?\s*=')
            hits = (
                i
                for i in range((line or 0) + (1 if line is not None and skip else 0), end)
                if pattern.search(lines[i])
            )
            hit = next(itertools.islice(hits, skip, None), None)
            skip = 0
            if hit is None:
                break
            line = hit
        if line is not None:
            return line + 1
    return None


def _reference_errors(policy: Policy) -> tuple[str, str] | None:
    """Checks across sections that a field validator cannot see: (key, message) of the first failure."""
    for level in Level:
        if level not in policy.levels:
            return f"levels.{level.value}", "this level is missing; all of I, II, III, IV are required"
    if "default" not in policy.escalation:
        return "escalation.default", "a default escalation chain is required"
    try:
        ZoneInfo(policy.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        return "timezone", f"unknown time zone {policy.timezone!r}"
    for i, channel in enumerate(policy.delivery_failure_channels):
        if channel not in policy.channels:
            return f"delivery_failure_channels.{i}", f"channel {channel!r} is not defined"
    names = [d.name for d in policy.periodic]
    for i, name in enumerate(names):
        if name in names[:i]:
            return f"periodic.{i}.name", f"duty {name!r} is defined twice"
    known = {"default", *(k.value for k in DeadlineKind)}
    for name, chain in policy.escalation.items():
        if name not in known:
            return f"escalation.{name}", f"not a deadline kind; use one of {', '.join(sorted(known))}"
        for i, step in enumerate(chain.steps):
            for channel in step.channels:
                if channel not in policy.channels:
                    return f"escalation.{name}.steps.{i}.channels", f"channel {channel!r} is not defined"
    return None


def _in_file(raw: Any, loc: tuple[int | str, ...]) -> tuple[int | str, ...]:
    """`loc` as written in the file: without the tag pydantic puts in the path of a discriminated
    union (`channels.hook.webhook.secret` is `secret` in `[channels.hook]`)."""
    node, kept = raw, []
    for part in loc:
        if isinstance(node, dict) and part not in node and node.get("type") == part:
            continue
        kept.append(part)
        if isinstance(node, dict):
            node = node.get(part)
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            node = node[part]
        else:
            node = None
    return tuple(kept)


def _path(key: str | None) -> tuple[int | str, ...]:
    return tuple(int(p) if p.isdigit() else p for p in key.split(".")) if key else ()


def parse_policy(text: str, env: Mapping[str, str] | None = None, source: str = "policy") -> Policy:
    """Validate policy TOML `text`; every failure is a PolicyError naming the key."""

    def located(message: str, loc: tuple[int | str, ...], where: tuple[int | str, ...] = ()) -> PolicyError:
        key = ".".join(str(p) for p in loc) or None
        return PolicyError(message, key=key, line=_line_of(text, where or loc))

    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        at = re.search(r"at line (\d+)", str(exc))
        raise PolicyError(
            f"{source} is not valid TOML: {exc}", line=int(at.group(1)) if at else None
        ) from None
    try:
        raw = _expand_env(raw, os.environ if env is None else env, "")
        policy = Policy.model_validate(raw)
    except PolicyError as exc:
        raise located(exc.reason, _path(exc.key)) from None
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = tuple(p for p in first["loc"] if p != "[key]")
        raise located(first["msg"], loc, _in_file(raw, loc)) from None
    problem = _reference_errors(policy)
    if problem:
        key, message = problem
        raise located(message, _path(key))
    return policy


def load_policy(path: Path, env: Mapping[str, str] | None = None) -> Policy:
    """Read, validate, and load the duty-roster CSV it names (relative to the policy file)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise PolicyError(f"cannot read {path}: {exc.strerror}") from None
    policy = parse_policy(text, env, source=str(path))
    if policy.roster.csv is None:
        return policy
    csv_path = policy.roster.csv if policy.roster.csv.is_absolute() else path.parent / policy.roster.csv
    try:
        shifts = load_shifts_csv(csv_path, policy.tz)
    except (OSError, ValueError) as exc:
        raise PolicyError(str(exc), key="roster.csv", line=_line_of(text, ("roster", "csv"))) from None
    roster = policy.roster.model_copy(update={"shifts": (*policy.roster.shifts, *shifts), "csv": csv_path})
    return policy.model_copy(update={"roster": roster})
