"""The worker child process, seen from the parent: `alerting run` serves HTTP itself and runs the
consumer, deadline firing and delivery in a child (`alerting _worker`), one core each.

The two talk over the child's standard streams and a loopback port. The child prints `port N` on
stdout once it has started; the parent writes `armed <ISO time>` lines to its stdin when the API arms
a deadline; the end of stdin tells the child to stop. The child serves /readyz and /metrics on that
port, which the parent's own endpoints include. If the parent dies the child is killed with it
(Linux), so that a crash of either is a crash of the service and not a half-running one."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
from collections.abc import Iterable
from datetime import datetime

import httpx

from alerting.app.sdnotify import child_environment
from alerting.errors import AlertingError

log = logging.getLogger(__name__)

START_TIMEOUT_S = 120.0  # the child migrates nothing (the parent did), but Kafka may be slow to answer
STOP_TIMEOUT_S = 45.0  # the consumer finishes its batch in hand (up to 30 s), then closes


class WorkerError(AlertingError):
    """The worker child process did not start."""


class WorkerProcess:
    def __init__(self, components: Iterable[str]) -> None:
        self.components = ",".join(sorted(components))
        self._proc: asyncio.subprocess.Process | None = None
        self._http: httpx.AsyncClient | None = None
        self.stopping = False

    async def start(self) -> None:
        env = {**child_environment(os.environ), "ALERTING_COMPONENTS": self.components}
        self._proc = proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "alerting.app", "_worker",
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, env=env,
        )  # fmt: skip
        assert proc.stdout is not None
        try:
            line = await asyncio.wait_for(proc.stdout.readline(), START_TIMEOUT_S)
        except TimeoutError:
            line = b""
        if not line.startswith(b"port "):
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            raise WorkerError(f"the worker process did not start (exit status {await proc.wait()})")
        port = int(line.split()[1])
        self._http = httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=5)
        log.info("worker process %d started (%s), health on 127.0.0.1:%d", proc.pid, self.components, port)

    def poke(self, at: datetime) -> None:
        if self._proc is None or self._proc.stdin is None or self._proc.stdin.is_closing():
            return  # stopping: the worker reads the table again when it next starts
        self._proc.stdin.write(f"armed {at.isoformat()}\n".encode())

    async def ready(self) -> bool:
        if self._http is None or self.returncode is not None:
            return False
        try:
            return (await self._http.get("/readyz")).status_code == 200
        except httpx.HTTPError:
            return False

    async def alive(self, within_s: float) -> bool:
        """Its event loop answers /healthz (whatever Kafka or the database say); True while starting."""
        if self._http is None:
            return self.returncode is None
        try:
            return (await self._http.get("/healthz", timeout=within_s)).status_code == 200
        except httpx.HTTPError:
            return False

    async def metrics(self) -> str:
        assert self._http is not None
        response = await self._http.get("/metrics")
        response.raise_for_status()
        return response.text

    @property
    def returncode(self) -> int | None:
        return None if self._proc is None else self._proc.returncode

    async def wait(self) -> int:
        assert self._proc is not None
        return await self._proc.wait()

    async def stop(self) -> int | None:
        """Ask the child to stop (end of its stdin) and wait for it; kill it if it does not."""
        self.stopping = True
        proc = self._proc
        if proc is None:
            return None
        if proc.stdin is not None and not proc.stdin.is_closing():
            proc.stdin.close()
        try:
            code = await asyncio.wait_for(proc.wait(), STOP_TIMEOUT_S)
        except TimeoutError:
            log.error("worker process %d did not stop within %.0f s; killing it", proc.pid, STOP_TIMEOUT_S)
            proc.kill()
            code = await proc.wait()
        if self._http is not None:
            await self._http.aclose()
        return code


def describe_exit(code: int) -> str:
    """A child's exit status as a log says it: `killed by SIGKILL`, `exit status 1`."""
    return f"killed by {signal.Signals(-code).name}" if code < 0 else f"exit status {code}"
