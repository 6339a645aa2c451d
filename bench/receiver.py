"""A webhook receiver in its own process (`python -m bench.receiver --port P`): answers 200 at once and
notes each request's Idempotency-Key with the wall-clock time it arrived.

GET /_count, GET /_arrivals ([[key, unix time], ...]), POST /_reset; any other path is the hook."""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

import uvicorn

arrivals: list[tuple[str, float]] = []


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    at = time.time()
    while (await receive()).get("more_body"):
        pass
    path = scope["path"]
    body = b"{}"
    if path == "/_count":
        body = json.dumps({"count": len(arrivals)}).encode()
    elif path == "/_arrivals":
        body = json.dumps(arrivals).encode()
    elif path == "/_reset":
        arrivals.clear()
    else:
        key = next((v.decode() for k, v in scope["headers"] if k.lower() == b"idempotency-key"), "")
        arrivals.append((key, at))
    await send(
        {"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]}
    )
    await send({"type": "http.response.body", "body": body})


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.receiver")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning", access_log=False, lifespan="off")


if __name__ == "__main__":
    main()
