"""`alerting run`: the service process (HTTP, and by default a worker child for everything else) and
that worker child (`alerting _worker`), each serving until a signal or its partner says stop."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import signal
import socket
import sys
from datetime import datetime
from typing import Any

import uvicorn
from fastapi import FastAPI

from alerting.api.health import readiness
from alerting.app.asgi import create_worker_app
from alerting.app.sdnotify import Notifier
from alerting.app.service import Service
from alerting.app.worker import WorkerProcess, describe_exit
from alerting.policy.model import Policy
from alerting.settings import Settings

log = logging.getLogger(__name__)

BATCH_GEN0_THRESHOLD = 50_000


async def run_service(settings: Settings, policy: Policy) -> int:
    """Serve the API here and the other components in a worker child process (or here too, with
    ALERTING_WORKER_PROCESS=false); the exit status is 1 if the worker died under us."""
    parts = settings.component_set()
    worker = WorkerProcess(parts) if parts and settings.worker_process else None
    notifier = Notifier()
    pinging = asyncio.create_task(
        notifier.watchdog(worker.alive if worker is not None else None), name="watchdog"
    )
    try:
        return await _serve(settings, policy, notifier, worker)
    finally:
        pinging.cancel()
        notifier.close()


async def _serve(settings: Settings, policy: Policy, notifier: Notifier, worker: WorkerProcess | None) -> int:
    here = settings if worker is None else settings.model_copy(update={"components": "api"})
    service = Service(here, policy, worker=worker)
    notifier.status("启动中：检查数据库结构，连接数据库与 Kafka / starting: schema, database, Kafka")
    await service.start()  # migrates the database before the worker opens it
    if worker is not None:
        notifier.status("启动中：启动工作进程 / starting: worker process")
        try:
            await worker.start()
        except BaseException:
            await service.stop()
            raise
    prepare_heap(batch_work=worker is None)
    server = _server(service.app, host=settings.http_host, port=settings.http_port)
    base = f"http://{settings.http_host}:{settings.http_port}"
    print(f"alerting: API on {base}/api/v1  docs {base}/docs  metrics {base}/metrics", file=sys.stderr)
    lost = asyncio.Event()
    watch = asyncio.create_task(_watch(worker, server, lost)) if worker is not None else None
    announce = (
        asyncio.create_task(_announce_ready(notifier, server, service, base)) if notifier.enabled else None
    )
    try:
        await server.serve()
    finally:
        notifier.stopping("正在停止：处理完手头的批次 / stopping: finishing the batch in hand")
        for task in (watch, announce):
            if task is not None:
                task.cancel()
        # The worker finishes its batch in hand meanwhile.
        await asyncio.gather(service.stop(), *([worker.stop()] if worker is not None else []))
        print("alerting: stopped", file=sys.stderr)
    return 1 if lost.is_set() else 0


async def _announce_ready(notifier: Notifier, server: uvicorn.Server, service: Service, base: str) -> None:
    """READY=1 once the port listens and /readyz would answer 200 (database, Kafka, the worker)."""
    while True:
        if server.started:  # uvicorn has bound the port
            ready, checks = await readiness(service.context)
            if ready:
                break
            waiting = ", ".join(name for name, state in checks.items() if state != "ok")
            notifier.status(f"启动中：等待 {waiting} 就绪 / starting: waiting for {waiting}")
        await asyncio.sleep(0.05 if not server.started else 1)
    notifier.ready(f"运行中：{base} / running: {base}")


async def run_worker(settings: Settings, policy: Policy) -> int:
    """The child's side: run the components, answer health and metrics on a loopback port, and stop
    when stdin ends (the parent is stopping) or on a signal."""
    _die_with_parent()
    # Where the two compete for a core, a request somebody waits on goes first; the batch work here
    # then takes a little longer. No effect while a core is free.
    os.nice(settings.worker_nice)
    service = Service(settings, policy, process="worker", migrate=False)  # the parent migrated
    await service.start()
    prepare_heap(batch_work=True)
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(128)
    server = _server(create_worker_app(service.context))
    print(f"port {listener.getsockname()[1]}", flush=True)
    # Nothing else may reach the pipe the parent stopped reading: a full pipe would block us.
    sys.stdout.flush()
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    orders = asyncio.create_task(_follow_parent(service, server))
    try:
        await server.serve(sockets=[listener])
    finally:
        orders.cancel()
        await service.stop()
    return 0


def _server(app: FastAPI, **where: Any) -> uvicorn.Server:
    config = uvicorn.Config(app, log_config=None, access_log=False, lifespan="off", **where)
    # uvicorn re-raises the signal it caught once it has shut down; with the default handler that
    # would kill the process before the consumer commits and leaves its group.
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: None)
    return uvicorn.Server(config)


def prepare_heap(batch_work: bool) -> None:
    """Tune the garbage collector once the service has started (the benchmark does the same)."""
    # Everything built so far (modules, app, policy) lives as long as the process: keep it out of
    # the collector's full passes, which otherwise stall requests for tens of milliseconds.
    gc.collect()
    gc.freeze()
    if batch_work:
        # A batch (1,000 reports, 1,000 fired deadlines) allocates tens of thousands of objects that
        # all live until it ends; with young collections every 700 allocations they are walked again
        # and again on their way to the old generation. Every 50,000 instead: a few MB more at most.
        gc.set_threshold(BATCH_GEN0_THRESHOLD, *gc.get_threshold()[1:])


async def _watch(worker: WorkerProcess, server: uvicorn.Server, lost: asyncio.Event) -> None:
    code = await worker.wait()
    if not worker.stopping:
        # Intake without firing would look healthy and alert nobody: stop, and let the supervisor
        # (systemd, Kubernetes) restart the whole service.
        log.error("worker process %s; stopping the service", describe_exit(code))
        lost.set()
        server.should_exit = True


async def _follow_parent(service: Service, server: uvicorn.Server) -> None:
    reader = asyncio.StreamReader()
    loop = asyncio.get_running_loop()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while line := await reader.readline():
        word, _, value = line.decode().strip().partition(" ")
        if word == "armed":
            with contextlib.suppress(ValueError):
                service.deadlines.poke(datetime.fromisoformat(value))
    server.should_exit = True  # end of stdin: the parent is stopping, or gone


def _die_with_parent() -> None:
    """Linux: have the kernel SIGKILL this process when its parent dies, however it dies."""
    if not sys.platform.startswith("linux"):
        return  # elsewhere the end of stdin stops it, gracefully
    import ctypes

    pr_set_pdeathsig = 1
    ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL)
