"""systemd's readiness protocol (sd_notify): READY=1 once started, STATUS= for `systemctl status`,
WATCHDOG=1 from the event loop, STOPPING=1 on the way out. Nothing is sent without $NOTIFY_SOCKET."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import Awaitable, Callable, Mapping

log = logging.getLogger(__name__)

# Taken out of the worker child's environment: only the main process speaks for the unit
# (NotifyAccess=main), and a child that pinged the watchdog would hide a wedged parent.
NOTIFY_ENV = ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID")


class Notifier:
    """Datagrams to the socket systemd gave this process; every send is best effort."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        self._address = _socket_address(env.get("NOTIFY_SOCKET", ""))
        self.watchdog_interval_s = _watchdog_interval(env) if self._address is not None else None
        self._socket: socket.socket | None = None

    @property
    def enabled(self) -> bool:
        return self._address is not None

    def send(self, *fields: str) -> None:
        if self._address is None:
            return
        if self._socket is None:
            self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
        try:
            self._socket.sendto("\n".join(fields).encode(), self._address)
        except OSError as exc:
            # systemd gone or restarting: the service keeps serving; the watchdog decides.
            log.warning("sd_notify: %s", exc.strerror or exc)

    def ready(self, status: str) -> None:
        self.send("READY=1", f"STATUS={status}")

    def status(self, status: str) -> None:
        self.send(f"STATUS={status}")

    def stopping(self, status: str) -> None:
        self.send("STOPPING=1", f"STATUS={status}")

    async def watchdog(self, alive: Callable[[float], Awaitable[bool]] | None = None) -> None:
        """Ping at half the interval systemd expects. Runs on the event loop: if the loop wedges, the
        pings stop and systemd restarts the service. `alive(timeout)` vouches for the rest (the worker
        child's own loop): while it says no, no ping either."""
        if self.watchdog_interval_s is None:
            return
        period = self.watchdog_interval_s / 2
        while True:
            if alive is None or await alive(period / 2):
                self.send("WATCHDOG=1")
            else:
                log.warning(
                    "工作进程无响应，暂停看门狗通知 / the worker process does not answer: no watchdog ping"
                )
            await asyncio.sleep(period)

    def close(self) -> None:
        if self._socket is not None:
            with contextlib.suppress(OSError):
                self._socket.close()
            self._socket = None


def child_environment(environ: Mapping[str, str]) -> dict[str, str]:
    """The environment for a child process, without systemd's notification variables."""
    return {name: value for name, value in environ.items() if name not in NOTIFY_ENV}


def _socket_address(value: str) -> str | bytes | None:
    if not value:
        return None
    if value.startswith("@"):  # the abstract namespace: a leading NUL byte instead of the '@'
        return b"\0" + value[1:].encode()
    if value.startswith("/"):
        return value
    return None  # e.g. vsock:… (a VM's host): not a socket this service is given on a server


def _watchdog_interval(env: Mapping[str, str]) -> float | None:
    try:
        usec = int(env.get("WATCHDOG_USEC", ""))
    except ValueError:
        return None
    pid = env.get("WATCHDOG_PID")
    if usec <= 0 or (pid and pid != str(os.getpid())):
        return None  # meant for another process (one that started us)
    return usec / 1_000_000
