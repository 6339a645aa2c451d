"""A WeCom (企业微信) group robot on 127.0.0.1 that checks a request as WeCom does (document 91770:
the path, the `key` in the query, a JSON body, msgtype text or markdown with their fields, the
content limits of 2,048 and 4,096 bytes, 20 messages a minute per key) and refuses with WeCom's own
errcode and errmsg."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qs

from tests.support import RobotRequest, ScriptedRobot, free_port, serve

MINUTE = timedelta(minutes=1)
HINT = ", hint: [1714528805123456789012345], from ip: 127.0.0.1, more info at https://open.work.weixin.qq.com/devtool/query?e="
LIMITS = {"text": 2048, "markdown": 4096}


def refusal(errcode: int, errmsg: str) -> tuple[int, str]:
    return errcode, f"{errmsg}{HINT}{errcode}"


@dataclass
class Robot(ScriptedRobot):
    key: str
    now: datetime  # the robot's own clock; tests move it
    shown: list[dict[str, Any]] = field(default_factory=list)  # what the group sees
    accepted_at: list[datetime] = field(default_factory=list)

    def check(self, request: RobotRequest) -> tuple[int, str]:
        query = {k: v[0] for k, v in parse_qs(request.query).items()}
        if request.path != "/cgi-bin/webhook/send" or query.get("key") != self.key:
            return refusal(93000, "invalid webhook url")
        if not request.headers.get("content-type", "").startswith("application/json"):
            return refusal(40058, "invalid Request Parameter")
        try:
            body = request.body
        except ValueError:
            return refusal(40058, "invalid json")
        kind = body.get("msgtype")
        if kind not in LIMITS:
            return refusal(40008, "invalid message type")
        fields = body.get(kind)
        allowed = {"content", "mentioned_list", "mentioned_mobile_list"} if kind == "text" else {"content"}
        if not isinstance(fields, dict) or set(fields) - allowed:
            return refusal(40058, "invalid Request Parameter")
        text = fields.get("content")
        if not isinstance(text, str) or not text:
            return refusal(44004, "empty content")
        if len(text.encode()) > LIMITS[kind]:
            return refusal(
                40058, f"{kind}.content exceed max length {LIMITS[kind]}. invalid Request Parameter"
            )
        mobiles = fields.get("mentioned_mobile_list", [])
        if not isinstance(mobiles, list) or not all(isinstance(m, str) for m in mobiles):
            return refusal(40058, "invalid Request Parameter")
        if len([t for t in self.accepted_at if t > self.now - MINUTE]) >= 20:
            return refusal(45009, "api freq out of limit")
        self.accepted_at.append(self.now)
        self.shown.append(body)
        return 0, "ok"


@asynccontextmanager
async def robot(key: str, now: datetime, **fields: Any) -> AsyncIterator[Robot]:
    hook = Robot(key, now, **fields)
    async with serve(hook, free_port()) as base:
        hook.url = f"{base}/cgi-bin/webhook/send?key={key}"
        yield hook
