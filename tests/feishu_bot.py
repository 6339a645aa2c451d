"""A Feishu custom bot on 127.0.0.1 that checks a request as Feishu does (its published rules: the
hook path, a JSON body of at most 20 KB, 签名校验 recomputed from the secret with the timestamp in
seconds within an hour of its own clock, the IP whitelist, the 自定义关键词, the card's fields,
100 messages a minute and 5 a second) and answers with Feishu's own code and msg, HTTP 200, dated
by its own clock."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.utils import format_datetime
from typing import Any

from tests.support import RobotRequest, ScriptedRobot, free_port, serve

SECOND, MINUTE = timedelta(seconds=1), timedelta(minutes=1)
MAX_BODY = 20 * 1024
SUCCESS = (0, "success")
LIMITED = (11232, "frequency limited psm[lark.oapi.app_platform_runtime]appID[-1]")
BAD_REQUEST = (9499, "Bad Request")
MENTION = re.compile(r"<at id=([^>]*)></at>")


def texts(node: Any) -> Iterator[str]:
    """Every text a card shows (its `content` strings), as the keyword check reads them."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "content" and isinstance(value, str):
                yield value
            else:
                yield from texts(value)
    elif isinstance(node, list):
        for item in node:
            yield from texts(item)


def _text_field(node: Any, tags: tuple[str, ...]) -> bool:
    return isinstance(node, dict) and node.get("tag") in tags and isinstance(node.get("content"), str)


def card_is_valid(card: Any) -> bool:
    """The fields a card needs: a header title, elements of known tags, buttons with a text and an
    http(s) url (a custom bot gets no callbacks, so a button can only open a link)."""
    if not isinstance(card, dict) or not isinstance(card.get("elements"), list):
        return False
    header = card.get("header", {"title": {"tag": "plain_text", "content": "x"}})
    if not isinstance(header, dict) or not _text_field(header.get("title"), ("plain_text",)):
        return False
    for element in card["elements"]:
        tag = element.get("tag") if isinstance(element, dict) else None
        if tag == "div" and not _text_field(element.get("text"), ("plain_text", "lark_md")):
            return False
        if tag == "action":
            buttons = element.get("actions")
            if not isinstance(buttons, list) or not buttons:
                return False
            for button in buttons:
                if not isinstance(button, dict) or button.get("tag") != "button":
                    return False
                url = button.get("url")
                if not _text_field(button.get("text"), ("plain_text", "lark_md")) or not (
                    isinstance(url, str) and re.match(r"https?://", url)
                ):
                    return False
        if tag not in ("div", "hr", "action", "note", "markdown"):
            return False
    return True


@dataclass
class Bot(ScriptedRobot):
    hook_id: str
    secret: str | None
    now: datetime  # the bot's own clock; tests move it
    keywords: tuple[str, ...] = ()
    allowed_ips: tuple[str, ...] | None = None  # the IP whitelist, if set
    legacy: bool = False  # answer as older bots do: {"StatusCode": 0, "StatusMessage": "success"}
    shown: list[dict[str, Any]] = field(default_factory=list)  # what the group sees
    accepted_at: list[datetime] = field(default_factory=list)

    def check(self, request: RobotRequest) -> tuple[int, str]:
        if request.path != f"/open-apis/bot/v2/hook/{self.hook_id}":
            return 19001, "param invalid: incoming webhook access token invalid"
        if len(request.raw) > MAX_BODY:
            return BAD_REQUEST
        try:
            body = request.body
        except ValueError:
            return BAD_REQUEST
        if not isinstance(body, dict):
            return BAD_REQUEST
        if self.secret is not None:
            stamp, sign = body.get("timestamp"), body.get("sign")
            if not isinstance(stamp, str) or not stamp.isdigit():
                return 19021, "sign match fail or timestamp is not within one hour from current time"
            key = f"{stamp}\n{self.secret}".encode()
            expected = base64.b64encode(hmac.new(key, b"", hashlib.sha256).digest()).decode()
            if abs(int(stamp) - self.now.timestamp()) > 3600 or sign != expected:
                return 19021, "sign match fail or timestamp is not within one hour from current time"
        if self.allowed_ips is not None and request.client not in self.allowed_ips:
            return 19022, "Ip Not Allowed"
        kind = body.get("msg_type")
        if kind == "interactive":
            if not card_is_valid(body.get("card")):
                return BAD_REQUEST
            shown = list(texts(body["card"]))
        elif kind == "text" and isinstance(body.get("content"), dict):
            shown = [str(body["content"].get("text", ""))]
        else:
            return 19002, "params error, msg_type need"
        if self.keywords and not any(k in t for k in self.keywords for t in shown):
            return 19024, "Key Words Not Found"
        if len([t for t in self.accepted_at if t > self.now - SECOND]) >= 5:
            return LIMITED
        if len([t for t in self.accepted_at if t > self.now - MINUTE]) >= 100:
            return LIMITED
        self.accepted_at.append(self.now)
        self.shown.append(body)
        return SUCCESS

    def mentioned(self, index: int = -1) -> list[str]:
        """The ids a shown card mentions, in order."""
        return [i for t in texts(self.shown[index]["card"]) for i in MENTION.findall(t)]

    def answer(self, code: int, message: str) -> dict[str, Any]:
        if self.legacy:
            return {"StatusCode": code, "StatusMessage": message}
        return {"code": code, "data": {}, "msg": message}

    def answer_headers(self) -> list[tuple[bytes, bytes]]:
        # Dated by the bot's own clock, as Feishu's answers are by Feishu's.
        date = format_datetime(self.now, usegmt=True).encode()
        return [(b"content-type", b"application/json; charset=utf-8"), (b"date", date)]


@asynccontextmanager
async def bot(hook_id: str, secret: str | None, now: datetime, **fields: Any) -> AsyncIterator[Bot]:
    hook = Bot(hook_id, secret, now, **fields)
    async with serve(hook, free_port(), date_header=False) as base:
        hook.url = f"{base}/open-apis/bot/v2/hook/{hook_id}"
        yield hook
