"""Seeded databases for the auditors' benchmark: a generated ten-year accountability log (bench/audit_gen.py)
on PostgreSQL (COPY, bench/audit_pg.py) or SQLite, migrated to head, cached between runs, with the
policy file whose township directory matches it.

    .venv/bin/python -m bench.audit_seed --backend postgresql [--entries N] [--townships T] [--reseed]

A cached database is reused when its recorded parameters match (PostgreSQL: the database's comment;
SQLite: a .json file beside it); it is always migrated to head first, since new migrations land."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from bench.audit_chain import GENESIS_HASH, chain, sqlite_rows
from bench.audit_gen import SeedParams, generate, township_names
from bench.audit_rows import (
    DEADLINE_COLUMNS,
    ENTRY_COLUMNS,
    INCIDENT_COLUMNS,
    JSON_COLUMNS,
    REPORT_COLUMNS,
    TIME_COLUMNS,
    when,
)
from bench.common import PG_PORT, ROOT, log, utcnow

CACHE_DIR = Path(os.environ.get("BENCH_CACHE_DIR", Path.home() / ".cache/alerting/bench"))
FULL = {"postgresql": (10_000_000, 2000), "sqlite": (1_000_000, 25)}  # a province; a county
QUICK = (20_000, 50)
ADMIN_DSN = f"postgresql://postgres@127.0.0.1:{PG_PORT}/postgres"


def params_for(backend: str, quick: bool) -> SeedParams:
    """The size: BENCH_AUDIT_ENTRIES / BENCH_AUDIT_TOWNSHIPS, else --quick's or the backend's."""
    entries, townships = QUICK if quick else FULL[backend]
    entries = int(os.environ.get("BENCH_AUDIT_ENTRIES", entries))
    townships = int(os.environ.get("BENCH_AUDIT_TOWNSHIPS", townships))
    return SeedParams(entries, townships)


def database_name(params: SeedParams) -> str:
    label = "10m" if (params.entries, params.townships) == (10_000_000, 2000) else None
    label = label or f"{params.entries}e_{params.townships}t"
    return f"bench_audit_{label}_v{params.version}"


def pg_url(database: str) -> str:
    return f"postgresql+asyncpg://postgres@127.0.0.1:{PG_PORT}/{database}"


def policy_text(names: list[str]) -> str:
    """deploy/policy.example.toml with its township directory replaced by `names` (each with its
    leader), the roster CSV named by its absolute path."""
    text = (ROOT / "deploy/policy.example.toml").read_text(encoding="utf-8")
    text = re.sub(r'\[townships\."[^"]+"\]\nleader = \{[^}]*\}\n\n?', "", text)
    text = text.replace('csv = "roster.example.csv"', f'csv = "{ROOT / "deploy/roster.example.csv"}"')
    blocks = [
        f'[townships."{name}"]\nleader = {{ name = "{name[-3:]} 党委办 主任", phone = "138{n:08d}" }}\n'
        for n, name in enumerate(names)
    ]
    return text.rstrip() + "\n\n# 乡镇名录 (generated for the auditors' benchmark)\n" + "\n".join(blocks)


def write_policy(params: SeedParams, directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"audit-policy-{params.townships}t-s{params.seed}.toml"
    path.write_text(policy_text(township_names(params.townships, params.seed)), encoding="utf-8")
    return path


def load_policy(path: Path, webhook: str = "http://127.0.0.1:9/hook") -> Any:
    from alerting.policy.loader import load_policy as load

    return load(path, {"ALERTING_COUNTY_WEBHOOK_URL": webhook})


@dataclass
class Seeded:
    backend: str
    url: str
    params: SeedParams
    policy_path: Path
    cached: bool
    info: dict[str, Any] = field(default_factory=dict)  # seeding timings, size

    @property
    def label(self) -> str:
        engine = "PostgreSQL" if self.backend == "postgresql" else "SQLite"
        return f"{self.params.entries:,} entries, {self.params.townships:,} townships, {engine}"


async def _seed_directory(url: str, policy_path: Path) -> None:
    """The directory (posts, township leaders) as the Service copies it from the policy at first start."""
    from alerting.county.directory import seed_from_policy
    from alerting.storage.engine import create_engine

    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            await seed_from_policy(conn, load_policy(policy_path), utcnow())
    finally:
        await engine.dispose()


async def _migrate(url: str) -> None:
    from alerting.storage.engine import upgrade

    await asyncio.to_thread(upgrade, url)


# ------------------------------------------------------------------------------------------------
# PostgreSQL
# ------------------------------------------------------------------------------------------------


async def postgres(params: SeedParams, *, database: str | None = None, reseed: bool = False) -> Seeded:
    """The seeded database `database` (default: the cached one for `params`), made if missing."""
    import asyncpg

    from bench import audit_pg

    name = database or database_name(params)
    policy_path = write_policy(params, CACHE_DIR)
    admin = await asyncpg.connect(ADMIN_DSN)
    try:
        comment = await admin.fetchval(
            "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = $1", name
        )
        recorded = json.loads(comment) if comment else None
        if recorded and recorded.get("params") == params.describe() and not reseed:
            await _migrate(pg_url(name))
            size = await admin.fetchval("SELECT pg_database_size($1)", name)
            log(f"audit seed: reusing {name} (seeded {recorded.get('seeded_at')}), migrated to head")
            return Seeded(
                "postgresql", pg_url(name), params, policy_path, True, {**recorded, "size_bytes": size}
            )
        log(f"audit seed: seeding {name} with {params.entries:,} entries ({params.townships:,} townships)")
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    t0 = time.perf_counter()
    url = pg_url(name)
    await _migrate(url)
    dsn = f"postgresql://postgres@127.0.0.1:{PG_PORT}/{name}"
    timings = await audit_pg.load(params, dsn)
    await _seed_directory(url, policy_path)
    t1 = time.perf_counter()
    conn = await asyncpg.connect(dsn)
    try:
        # Sets hint bits and the visibility map now, rather than autovacuum in the middle of a measurement.
        await conn.execute("VACUUM (ANALYZE)")
        timings["vacuum_analyze_s"] = time.perf_counter() - t1
        timings["seed_s"] = time.perf_counter() - t0
        record = {
            "params": params.describe(),
            "seeded_at": utcnow().isoformat(),
            "timings": {k: round(v, 1) for k, v in timings.items()},
            "how": "bench/audit_seed.py (python -m bench.audit_seed --backend postgresql)",
        }
        quoted = json.dumps(record).replace("'", "''")
        await conn.execute(f"COMMENT ON DATABASE \"{name}\" IS '{quoted}'")
        size = await conn.fetchval("SELECT pg_database_size($1)", name)
    finally:
        await conn.close()
    log(f"audit seed: {name} seeded in {timings['seed_s']:.0f} s, {size / 1e9:.1f} GB ({timings})")
    return Seeded("postgresql", url, params, policy_path, False, {**record, "size_bytes": size})


# ------------------------------------------------------------------------------------------------
# SQLite
# ------------------------------------------------------------------------------------------------


def _sqlite_values(columns: tuple[str, ...]) -> Any:
    from bench.audit_chain import sqlite_time

    kinds = ["time" if c in TIME_COLUMNS else "json" if c in JSON_COLUMNS else "plain" for c in columns]

    def values(row: tuple[Any, ...]) -> tuple[Any, ...]:
        return tuple(
            None
            if v is None
            else sqlite_time(when(v))
            if k == "time"
            else orjson.dumps(v).decode()
            if k == "json"
            else v
            for k, v in zip(kinds, row, strict=True)
        )

    return values


def _sqlite_load(params: SeedParams, path: Path) -> None:
    """Every generated day in one transaction; the product's indexes stay (a bigger page cache makes
    the random hash index cheap enough at a county's size)."""
    con = sqlite3.connect(path, isolation_level=None)
    try:
        con.execute("PRAGMA synchronous = OFF")
        con.execute("PRAGMA cache_size = -1048576")  # 1 GB
        con.execute("BEGIN")
        tables = (
            ("incidents", INCIDENT_COLUMNS),
            ("deadlines", DEADLINE_COLUMNS),
            ("reports", REPORT_COLUMNS),
        )
        statements = {
            t: f"INSERT INTO {t} ({', '.join(c)}) VALUES ({', '.join('?' for _ in c)})"
            for t, c in (*tables, ("accountability_entries", ENTRY_COLUMNS))
        }
        convert = {t: _sqlite_values(c) for t, c in tables}
        prev = GENESIS_HASH
        for day in generate(params):
            for table, rows in (
                ("incidents", day.incidents),
                ("deadlines", day.deadlines),
                ("reports", day.reports),
            ):
                con.executemany(statements[table], [convert[table](r) for r in rows])
            hashed, prev = chain(day.entries, prev)
            con.executemany(statements["accountability_entries"], sqlite_rows(hashed))
        con.execute("COMMIT")
        con.execute("ANALYZE")
    finally:
        con.close()


async def sqlite(params: SeedParams, path: Path | None = None, *, reseed: bool = False) -> Seeded:
    """The seeded SQLite file `path` (default: the cached one for `params`), made if missing."""
    path = path or CACHE_DIR / f"{database_name(params)}.db"
    meta = path.with_suffix(".json")
    policy_path = write_policy(params, path.parent)
    url = f"sqlite+aiosqlite:///{path}"
    if path.exists() and meta.exists() and not reseed:
        recorded = json.loads(meta.read_text())
        if recorded.get("params") == params.describe():
            await _migrate(url)
            log(f"audit seed: reusing {path} (seeded {recorded.get('seeded_at')}), migrated to head")
            return Seeded(
                "sqlite", url, params, policy_path, True, {**recorded, "size_bytes": path.stat().st_size}
            )
    log(f"audit seed: seeding {path} with {params.entries:,} entries ({params.townships:,} townships)")
    path.parent.mkdir(parents=True, exist_ok=True)
    meta.unlink(missing_ok=True)
    for stale in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
        stale.unlink(missing_ok=True)
    t0 = time.perf_counter()
    await _migrate(url)
    await asyncio.to_thread(_sqlite_load, params, path)
    await _seed_directory(url, policy_path)
    record = {
        "params": params.describe(),
        "seeded_at": utcnow().isoformat(),
        "timings": {"seed_s": round(time.perf_counter() - t0, 1)},
    }
    meta.write_text(json.dumps(record, indent=2))
    log(f"audit seed: {path} seeded in {record['timings']['seed_s']} s, {path.stat().st_size / 1e9:.2f} GB")
    return Seeded("sqlite", url, params, policy_path, False, {**record, "size_bytes": path.stat().st_size})


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.audit_seed", description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=("postgresql", "sqlite"), default="postgresql")
    parser.add_argument("--entries", type=int)
    parser.add_argument("--townships", type=int)
    parser.add_argument("--reseed", action="store_true", help="seed again even if a matching copy is cached")
    args = parser.parse_args(argv)
    entries, townships = FULL[args.backend]
    params = SeedParams(args.entries or entries, args.townships or townships)
    seeding = (
        postgres(params, reseed=args.reseed)
        if args.backend == "postgresql"
        else sqlite(params, reseed=args.reseed)
    )
    seeded = asyncio.run(seeding)
    print(
        json.dumps(
            {"url": seeded.url, "policy": str(seeded.policy_path), "cached": seeded.cached, **seeded.info}
        )
    )


if __name__ == "__main__":
    main()
