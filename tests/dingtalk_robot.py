"""A DingTalk custom robot on 127.0.0.1 that checks a request as DingTalk does (its published rules:
the access_token, 加签 recomputed from the secret with the timestamp within an hour of its own clock,
the 自定义关键词, 20 messages a minute then 10 minutes blocked, the 20,000-byte body, msgUuid
deduplication) and refuses with DingTalk's own errcode and errmsg."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qs

from tests.support import RobotRequest, ScriptedRobot, free_port, serve

MINUTE, BLOCK = timedelta(minutes=1), timedelta(minutes=10)


@dataclass
class Robot(ScriptedRobot):
    token: str
    secret: str | None
    now: datetime  # the robot's own clock; tests move it
    keywords: tuple[str, ...] = ()
    shown: list[dict[str, Any]] = field(default_factory=list)  # what the group sees, once per msgUuid
    accepted_at: list[datetime] = field(default_factory=list)
    blocked_until: datetime | None = None

    def check(self, request: RobotRequest) -> tuple[int, str]:
        query = {k: v[0] for k, v in parse_qs(request.query).items()}  # decoded once, as a server does
        if request.path != "/robot/send" or query.get("access_token") != self.token:
            return 300005, "token is not exist"
        if not request.headers.get("content-type", "").startswith("application/json"):
            return 43004, "无效的HTTP HEADER Content-Type"
        if len(request.raw) >= 20_000:
            return 460101, "message too long, exceed 20000 bytes"
        body = request.body
        if self.secret is not None:
            stamp, sign = query.get("timestamp", ""), query.get("sign", "")
            if not stamp.isdigit() or abs(int(stamp) - self.now.timestamp() * 1000) > 3_600_000:
                return (
                    310000,
                    "invalid timestamp, more: [https://ding-doc.dingtalk.com/doc#/serverapi2/qf2nxq]",
                )
            message = f"{stamp}\n{self.secret}".encode()
            expected = base64.b64encode(hmac.new(self.secret.encode(), message, hashlib.sha256).digest())
            if sign != expected.decode():
                return 310000, "sign not match, more: [https://ding-doc.dingtalk.com/doc#/serverapi2/qf2nxq]"
        kind = body.get("msgtype")
        if kind not in ("text", "actionCard", "markdown"):
            return 400105, "不支持的消息类型"
        shown = body["text"]["content"] if kind == "text" else body[kind]["title"] + body[kind]["text"]
        if self.keywords and not any(k in shown for k in self.keywords):
            return (
                310000,
                "keywords not in content, more: [https://ding-doc.dingtalk.com/doc#/serverapi2/qf2nxq]",
            )
        if self.blocked_until and self.now < self.blocked_until:
            return 130101, "send too fast, exceed 20 times per minute"
        if len([t for t in self.accepted_at if t > self.now - MINUTE]) >= 20:
            self.blocked_until = self.now + BLOCK
            return 130101, "send too fast, exceed 20 times per minute"
        self.accepted_at.append(self.now)
        if body.get("msgUuid") not in {m.get("msgUuid") for m in self.shown}:
            self.shown.append(body)
        return 0, "ok"


@asynccontextmanager
async def robot(token: str, secret: str | None, now: datetime, **fields: Any) -> AsyncIterator[Robot]:
    hook = Robot(token, secret, now, **fields)
    async with serve(hook, free_port()) as base:
        hook.url = f"{base}/robot/send?access_token={token}"
        yield hook
