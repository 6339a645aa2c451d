"""`alerting run` under systemd's readiness protocol, as systemd sees it: a datagram socket named by
$NOTIFY_SOCKET, each message with the sender's credentials (NotifyAccess=main checks the pid)."""

from __future__ import annotations

import os
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from tests.faults.harness import ServiceProcess, fault_policy, service_env
from tests.support import free_port

UCRED = struct.Struct("iII")  # pid, uid, gid
# `alerting run` as MemoryDenyWriteExecute=yes runs it: the kernel refuses any writable and executable
# mapping (PR_SET_MDWE, kept across fork and exec, so the worker child too). The same pid: exec.
MDWE = (
    "import ctypes, os, sys\n"
    "if ctypes.CDLL(None, use_errno=True).prctl(65, 1, 0, 0, 0) != 0:  # PR_SET_MDWE, REFUSE_EXEC_GAIN\n"
    "    sys.exit('PR_SET_MDWE refused: errno %d' % ctypes.get_errno())\n"
)
UNDER_MDWE = (
    sys.executable,
    "-c",
    MDWE + "os.execv(sys.executable, [sys.executable, '-m', 'alerting.app', 'run'])",
)


@dataclass
class Message:
    at: float  # time.monotonic() on arrival
    pid: int
    fields: dict[str, str]


@dataclass
class NotifySocket:
    """What systemd would receive: every datagram, when it came and which process sent it."""

    path: Path
    messages: list[Message] = field(default_factory=list)
    _sock: socket.socket | None = None
    _thread: threading.Thread | None = None

    def open(self) -> None:
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
        self._sock.bind(str(self.path))
        self._sock.settimeout(0.2)
        self._thread = threading.Thread(target=self._receive, daemon=True)
        self._thread.start()

    def _receive(self) -> None:
        assert self._sock is not None
        while True:
            try:
                data, ancillary, _, _ = self._sock.recvmsg(4096, socket.CMSG_SPACE(UCRED.size))
            except TimeoutError:
                continue
            except OSError:
                return  # closed
            pid = next(
                UCRED.unpack(payload[: UCRED.size])[0]
                for level, kind, payload in ancillary
                if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS
            )
            fields = dict(line.split("=", 1) for line in data.decode().splitlines())
            self.messages.append(Message(time.monotonic(), pid, fields))

    def first(self, name: str, within: float = 60) -> Message:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            for message in list(self.messages):
                if name in message.fields:
                    return message
            time.sleep(0.02)
        raise AssertionError(f"no {name} within {within} s: {[m.fields for m in self.messages]}")

    def count(self, name: str) -> int:
        return sum(name in message.fields for message in self.messages)

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
        if self._thread is not None:
            self._thread.join(timeout=5)


@dataclass
class ReadyzPoller:
    """Asks /readyz as fast as it can, from before the service listens, and keeps every answer."""

    url: str
    answers: list[tuple[float, int | None]] = field(default_factory=list)  # None: nothing listens
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()

    def _poll(self) -> None:
        with httpx.Client(timeout=5) as client:
            while not self._stop.is_set():
                try:
                    status: int | None = client.get(f"{self.url}/readyz").status_code
                except httpx.TransportError:
                    status = None
                self.answers.append((time.monotonic(), status))
                time.sleep(0.02)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)


def _unit_env(tmp_path: Path, database_url: str, kafka: str, notify: Path) -> dict[str, str]:
    env = service_env(database_url, kafka, fault_policy(tmp_path / "policy.toml"), "http://127.0.0.1:9/")
    # As systemd sets them for Type=notify with WatchdogSec=1 (WATCHDOG_PID is left out, as it may be).
    return {**env, "NOTIFY_SOCKET": str(notify), "WATCHDOG_USEC": "1000000"}


def test_ready_only_once_readyz_answers_then_watchdog_pings_then_stopping_under_mdwe(
    sqlite_url: str, kafka_bootstrap: str, tmp_path: Path
) -> None:
    notify = NotifySocket(tmp_path / "notify.sock")
    notify.open()
    env = _unit_env(tmp_path, sqlite_url, kafka_bootstrap, notify.path)
    service = ServiceProcess(env, tmp_path / "log", command=UNDER_MDWE)
    poller = ReadyzPoller(service.url)
    poller.start()
    try:
        service.start()
        assert service.proc is not None
        ready = notify.first("READY")
        # READY=1 came with a status for `systemctl status`, and only from the main process.
        assert ready.fields["STATUS"].startswith("运行中"), ready.fields
        # The same moment seen from outside: /readyz says every part is reachable.
        answer = httpx.get(f"{service.url}/readyz", timeout=10)
        assert answer.status_code == 200, answer.text
        assert answer.json() == {"database": "ok", "kafka": "ok", "worker": "ok"}
        # Before READY=1 the service was starting: its port was not even open for a while.
        before = [status for at, status in poller.answers if at < ready.at]
        assert None in before, before
        assert any(
            m.fields.get("STATUS", "").startswith("启动中") for m in notify.messages if m.at < ready.at
        )

        pings_at_ready = notify.count("WATCHDOG")
        deadline = time.monotonic() + 30
        while notify.count("WATCHDOG") < pings_at_ready + 4 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert notify.count("WATCHDOG") >= pings_at_ready + 4  # every 0.5 s, from the event loop

        # A wedged worker loop (stopped here) stops the pings too, so systemd restarts the service.
        worker = int(
            Path(f"/proc/{service.proc.pid}/task/{service.proc.pid}/children").read_text().split()[0]
        )
        os.kill(worker, signal.SIGSTOP)
        try:
            time.sleep(1)  # a ping already on its way may still arrive
            stalled = notify.count("WATCHDOG")
            time.sleep(2)  # four periods
            assert notify.count("WATCHDOG") == stalled
        finally:
            os.kill(worker, signal.SIGCONT)
        deadline = time.monotonic() + 10
        while notify.count("WATCHDOG") <= stalled and time.monotonic() < deadline:
            time.sleep(0.1)
        assert notify.count("WATCHDOG") > stalled

        assert service.terminate() == 0
        stopping = notify.first("STOPPING", within=5)
        assert stopping.at > ready.at
        assert notify.count("READY") == 1
        # NotifyAccess=main: the worker child said nothing (it is not given the socket).
        assert {message.pid for message in notify.messages} == {service.proc.pid}
        assert "Traceback" not in service.log()
    finally:
        poller.stop()
        service.stop_quietly()
        notify.close()


def test_no_ready_while_kafka_is_unreachable(sqlite_url: str, tmp_path: Path) -> None:
    notify = NotifySocket(tmp_path / "notify.sock")
    notify.open()
    nobody = f"127.0.0.1:{free_port()}"  # a port nothing listens on
    service = ServiceProcess(_unit_env(tmp_path, sqlite_url, nobody, notify.path), tmp_path / "log")
    try:
        try:
            service.start()
        except AssertionError:
            pass  # it exited before its port opened: the outcome wanted, checked below
        assert service.proc is not None
        code = service.wait_exit(timeout=120)
        assert code != 0, service.log()[-2000:]
        assert "ALERTING_KAFKA_BOOTSTRAP_SERVERS" in service.log()  # and for that reason, not another
        # It spoke (the socket works, it said it was starting), but never that it was ready.
        assert notify.first("STATUS", within=5).fields["STATUS"].startswith("启动中")
        assert notify.count("READY") == 0, [m.fields for m in notify.messages]
    finally:
        service.stop_quietly()
        notify.close()


def test_the_mdwe_wrapper_does_refuse_writable_code() -> None:
    """So that the service passing under it means something."""
    attempt = "import mmap\nmmap.mmap(-1, 4096, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)"
    done = subprocess.run([sys.executable, "-c", MDWE + attempt], capture_output=True, text=True, timeout=30)
    assert done.returncode == 1 and "PermissionError" in done.stderr, done.stderr
