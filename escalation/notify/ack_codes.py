"""Acknowledgement codes for the cloud SMS channels: both providers refuse a URL inside a template
variable, so the link is fixed text of the approved template (https://HOST/s/) and each person's
code is a variable; GET /s/{code} (alerting/web/short_links.py) leads to that person's own signed
acknowledgement link (/ack/{token}).

The outbox calls `with_ack_codes` before each attempt of a notification to such a channel: it issues
a code for each recipient with an ack_url once (stored, so that every retry sends the same code) and
marks the numbers an earlier attempt settled (`record_settled`, from PartialDelivery) so that the
integration sends to the others only.

A code is 10 characters of Crockford's base32 (no I, L, O, U): 50 bits, typed from a phone without
ambiguity (O reads as 0, I and L as 1), within Tencent's 12 characters a variable."""

from __future__ import annotations

import re
import secrets
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine

from alerting.links import expires_of, token_of
from alerting.policy.channels import AnyChannel
from alerting.policy.sms_channels import ACK_CODE_LENGTH, AliyunSmsChannel, TencentSmsChannel
from alerting.storage.engine import write_lock
from alerting.storage.schema import ack_codes, sms_settled
from escalation.notify.recipients import mobile

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_TYPED = str.maketrans({"O": "0", "I": "1", "L": "1"})


def new_code() -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(ACK_CODE_LENGTH))


def normalized(typed: str) -> str | None:
    """A code as typed (any case, spaces or hyphens, O for 0, I or L for 1), or None if it is none."""
    code = re.sub(r"[\s-]", "", typed).upper().translate(_TYPED)
    return code if re.fullmatch(f"[{ALPHABET}]{{{ACK_CODE_LENGTH}}}", code) else None


def needs_codes(channel: AnyChannel | None) -> bool:
    return isinstance(channel, AliyunSmsChannel | TencentSmsChannel)


async def with_ack_codes(
    engine: AsyncEngine, notification_id: int, payload: dict[str, Any], now: datetime
) -> dict[str, Any]:
    """`payload` with "ack_code" on each recipient that has an ack_url (the same code on every retry
    of the notification) and "sms_settled" on each whose number an earlier attempt settled."""
    recipients = [r if isinstance(r, dict) else {} for r in payload.get("recipients") or ()]
    wanted: dict[int, tuple[str, datetime]] = {}
    for place, recipient in enumerate(recipients):
        token = token_of(str(recipient.get("ack_url") or ""))
        if token and (expires := expires_of(token)):
            wanted[place] = (token, expires)
    dialect = postgresql if engine.dialect.name == "postgresql" else sqlite
    async with write_lock(engine), engine.begin() as conn:
        mine = ack_codes.c.notification_id == notification_id
        issued = dict((await conn.execute(select(ack_codes.c.recipient, ack_codes.c.code).where(mine))).all())
        for place, (token, expires) in wanted.items():
            if place not in issued:
                row = {"notification_id": notification_id, "recipient": place, "token": token}
                # A replica racing for the same notification, or (1 in 2^50) a code taken: the lookup
                # below reads what was stored; a recipient left without a code gets no code, not a wrong one.
                await conn.execute(
                    dialect.insert(ack_codes)
                    .values(code=new_code(), expires_at=expires, created_at=now, **row)
                    .on_conflict_do_nothing()
                )
        issued = dict((await conn.execute(select(ack_codes.c.recipient, ack_codes.c.code).where(mine))).all())
        settled = dict(
            (
                await conn.execute(
                    select(sms_settled.c.mobile, sms_settled.c.outcome).where(
                        sms_settled.c.notification_id == notification_id
                    )
                )
            ).all()
        )
    marked = []
    for place, recipient in enumerate(recipients):
        extra: dict[str, str] = {}
        if place in issued:
            extra["ack_code"] = issued[place]
        if (number := mobile(recipient.get("phone"))) and number in settled:
            extra["sms_settled"] = settled[number]
        marked.append({**recipient, **extra})
    return {**payload, "recipients": marked}


async def record_settled(
    engine: AsyncEngine, notification_id: int, settled: dict[str, str], now: datetime
) -> None:
    """Keep the numbers one attempt settled (PartialDelivery.settled), for the next attempt."""
    if not settled:
        return
    dialect = postgresql if engine.dialect.name == "postgresql" else sqlite
    rows = [
        {"notification_id": notification_id, "mobile": number, "outcome": outcome[:200], "at": now}
        for number, outcome in settled.items()
    ]
    async with write_lock(engine), engine.begin() as conn:
        await conn.execute(dialect.insert(sms_settled).on_conflict_do_nothing(), rows)
