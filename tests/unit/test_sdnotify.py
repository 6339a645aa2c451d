"""The sd_notify sender on its own: addresses, the watchdog's interval, silence without a socket."""

from __future__ import annotations

import logging
import os
import socket
import uuid
from pathlib import Path

import pytest

from alerting.app.sdnotify import Notifier, child_environment


def test_without_notify_socket_nothing_is_sent_and_no_watchdog_runs() -> None:
    notifier = Notifier({"WATCHDOG_USEC": "30000000"})
    assert not notifier.enabled and notifier.watchdog_interval_s is None
    notifier.ready("运行中")  # no socket to send to: a no-op, not an error
    assert notifier._socket is None


def test_a_path_socket_receives_each_message(tmp_path: Path) -> None:
    path = tmp_path / "notify"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as systemd:
        systemd.bind(str(path))
        notifier = Notifier({"NOTIFY_SOCKET": str(path)})
        notifier.ready("运行中：http://127.0.0.1:8000 / running")
        notifier.stopping("正在停止 / stopping")
        assert systemd.recv(4096).decode() == "READY=1\nSTATUS=运行中：http://127.0.0.1:8000 / running"
        assert systemd.recv(4096).decode() == "STOPPING=1\nSTATUS=正在停止 / stopping"
        notifier.close()


def test_an_at_sign_means_the_abstract_namespace() -> None:
    name = f"alerting-test-{uuid.uuid4().hex}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as systemd:
        systemd.bind(b"\0" + name.encode())
        notifier = Notifier({"NOTIFY_SOCKET": "@" + name})
        notifier.send("WATCHDOG=1")
        assert systemd.recv(4096) == b"WATCHDOG=1"
        notifier.close()


def test_a_gone_socket_is_logged_not_raised(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    notifier = Notifier({"NOTIFY_SOCKET": str(tmp_path / "nobody-listens")})
    with caplog.at_level(logging.WARNING, logger="alerting.app.sdnotify"):
        notifier.ready("运行中")  # systemd restarting: the service keeps serving
    assert [record.getMessage() for record in caplog.records] == ["sd_notify: No such file or directory"]
    notifier.close()


def test_the_watchdog_interval_is_for_this_process_only() -> None:
    mine = {"NOTIFY_SOCKET": "/run/systemd/notify", "WATCHDOG_USEC": "30000000"}
    assert Notifier(mine).watchdog_interval_s == 30.0
    assert Notifier({**mine, "WATCHDOG_PID": str(os.getpid())}).watchdog_interval_s == 30.0
    assert Notifier({**mine, "WATCHDOG_PID": str(os.getpid() + 1)}).watchdog_interval_s is None
    assert Notifier({**mine, "WATCHDOG_USEC": "0"}).watchdog_interval_s is None
    assert Notifier({**mine, "WATCHDOG_USEC": "soon"}).watchdog_interval_s is None


def test_the_worker_child_is_not_given_the_socket() -> None:
    env = {"NOTIFY_SOCKET": "/run/x", "WATCHDOG_USEC": "1", "WATCHDOG_PID": "7", "ALERTING_X": "1"}
    assert child_environment(env) == {"ALERTING_X": "1"}
