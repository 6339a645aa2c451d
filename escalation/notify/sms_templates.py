"""What the cloud SMS channels (aliyun_sms.py, tencent_sms.py) share: the values of an approved
template's variables, the requests of one notification, and the outcome per mobile number.

Both providers refuse a URL inside a variable, so the acknowledgement link is fixed text of the
approved template ("…请打开 https://HOST/s/ 输入签收码 ${code}") and each person's short code
(escalation/notify/ack_codes.py, payload recipient["ack_code"]) is a variable. A value is cleaned of
anything that looks like a link and cut to the channel's param_max_chars; a code is never cut.

Partial success: a recipient the outbox stage marked `sms_settled` (sent, or refused for good, on an
earlier attempt of the same notification) is not sent to again. When some numbers of an attempt are
settled and others are worth another attempt, PartialDelivery carries the settled ones to the outbox,
which records them (ack_codes.record_settled) before it schedules the retry."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from alerting.domain import DeadlineKind
from alerting.errors import DeliveryError, PartialDelivery, PermanentDelivery, RetryableDelivery
from alerting.policy.sms_channels import AliyunSmsChannel, TemplateField, TencentSmsChannel
from escalation.messages import DEADLINE_ZH
from escalation.notify.recipients import mobile

NO_CODE = "无"  # the code variable of a recipient without a link, when there is no template_without_code
BLANK = "—"  # a variable whose field the notification does not have (providers refuse empty ones)
CUT = "…"
SENT = "sent"
# Both providers look for links: a scheme, www., or a domain name with a letter TLD (3.5 stays).
LINK = re.compile(r"(?i)(?:https?://|www\.)\S*|[a-z0-9-]+(?:\.[a-z0-9-]+)*\.[a-z]{2,}(?:/\S*)?")
CONCURRENT_REQUESTS = 10
# The share of the attempt's time one request may take: a request that runs out is settled as
# retryable here, before dispatch's bound on the whole attempt would lose what the others achieved.
REQUEST_SHARE = 0.8

CloudSms = AliyunSmsChannel | TencentSmsChannel
Outcome = DeliveryError | None  # None: the provider took the message for this number


def cleaned(value: str, limit: int) -> str:
    """`value` without links or line breaks, at most `limit` characters (cut at its end, marked …)."""
    text = " ".join(LINK.sub("", value).split()) or BLANK
    return text if len(text) <= limit else text[: max(limit - 1, 0)] + CUT


def local_due(due_at: object, timezone: str) -> str:
    """5月1日10:00: the due time where the county is, short enough for a 12-character variable."""
    try:
        when = datetime.fromisoformat(str(due_at)).astimezone(ZoneInfo(timezone))
    except ValueError:
        return BLANK
    return f"{when.month}月{when.day}日{when.hour:02d}:{when.minute:02d}"


def field_values(payload: dict[str, Any], timezone: str) -> dict[str, str]:
    """Every field but `code`, from a notification's payload (escalation/messages.py)."""
    deadline = payload.get("deadline") or {}
    incident = payload.get("incident") or {}
    try:
        kind = DEADLINE_ZH[DeadlineKind(str(deadline.get("kind")))]
    except ValueError:
        kind = "测试消息" if payload.get("test") else "紧急信息提醒"
    level = incident.get("level")
    return {
        "township": str(payload.get("township") or BLANK),
        "deadline": kind,
        "due": local_due(deadline.get("due_at"), timezone) if deadline.get("due_at") else BLANK,
        "title": str(incident.get("title") or ("测试消息" if payload.get("test") else BLANK)),
        "level": f"{level}级" if level else BLANK,
    }


@dataclass(frozen=True, slots=True)
class Batch:
    """One provider request: a template, its variables (name, value) in order, the mobile numbers."""

    template: str
    params: tuple[tuple[str, str], ...]
    mobiles: tuple[str, ...]


@dataclass
class Tally:
    """The outcome per mobile number of one notification, over this attempt and the earlier ones."""

    provider: str
    total: int = 0  # distinct mobile numbers of the notification, earlier settled ones included
    earlier_failed: dict[str, str] = field(default_factory=dict)  # mobile → why (earlier attempt)
    sent: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)  # mobile → why, this attempt
    retry: dict[str, RetryableDelivery] = field(default_factory=dict)

    def note(self, number: str, outcome: Outcome) -> None:
        if outcome is None:
            self.sent.append(number)
        elif isinstance(outcome, RetryableDelivery):
            self.retry[number] = outcome
        else:
            self.failed[number] = str(outcome)

    def _share(self, count: int) -> str:
        return "" if count == self.total else f" for {count} of {self.total} numbers"

    def conclude(self) -> None:
        """Return if every number got it; else RetryableDelivery (PartialDelivery when some numbers
        were settled this attempt) while any number is worth another attempt, PermanentDelivery
        when the only failures are for good."""
        if self.total == 0:
            raise PermanentDelivery("no recipient mobile numbers")
        if self.retry:
            first = next(iter(self.retry.values()))
            waits = [e.retry_after for e in self.retry.values() if e.retry_after is not None]
            message = f"{first}{self._share(len(self.retry))}"
            settled = {number: SENT for number in self.sent} | self.failed
            if settled:
                raise PartialDelivery(message, settled=settled, retry_after=max(waits, default=None))
            raise RetryableDelivery(message, retry_after=max(waits, default=None))
        failures = self.failed | self.earlier_failed
        if failures:
            raise PermanentDelivery(f"{next(iter(failures.values()))}{self._share(len(failures))}")

    async def run(
        self,
        batches: Sequence[Batch],
        request: Callable[[Batch], Awaitable[dict[str, Outcome]]],
        attempt_time: timedelta,
    ) -> None:
        """Send every batch (some at once), noting each number's outcome; a request that fails as a
        whole fails for each of its numbers."""
        gate = asyncio.Semaphore(CONCURRENT_REQUESTS)
        limit = attempt_time.total_seconds() * REQUEST_SHARE

        async def one(batch: Batch) -> None:
            async with gate:
                try:
                    async with asyncio.timeout(limit):
                        outcomes = await request(batch)
                except TimeoutError:
                    whole: Outcome = RetryableDelivery(f"no complete answer within {limit:g} s")
                    outcomes = dict.fromkeys(batch.mobiles, whole)
                except DeliveryError as exc:
                    outcomes = dict.fromkeys(batch.mobiles, exc)
            for number in batch.mobiles:  # a number the answer does not mention is not confirmed
                unconfirmed = RetryableDelivery(f"{self.provider} no status for the number")
                self.note(number, outcomes.get(number, unconfirmed))

        await asyncio.gather(*(one(batch) for batch in batches))


def plan(
    channel: CloudSms,
    names: Sequence[tuple[str, TemplateField]],
    payload: dict[str, Any],
    provider: str,
    max_numbers: int,
) -> tuple[list[Batch], Tally]:
    """The requests of one notification: recipients with the same variables share one (at most
    `max_numbers` numbers each), so a person's own code goes to their own number only; numbers
    settled on an earlier attempt are left out, and so is any number that is not a mobile."""
    values = field_values(payload, channel.timezone)
    limit = channel.param_max_chars
    tally = Tally(provider)
    seen: set[str] = set()
    groups: dict[tuple[str, tuple[tuple[str, str], ...]], list[str]] = {}
    for recipient in payload.get("recipients") or ():
        number = mobile(recipient.get("phone")) if isinstance(recipient, dict) else None
        if number is None or number in seen:
            continue
        seen.add(number)
        tally.total += 1
        if settled := recipient.get("sms_settled"):
            if settled != SENT:
                tally.earlier_failed[number] = str(settled)
            continue
        code = recipient.get("ack_code")
        template, fields = channel.template, list(names)
        if not code and channel.template_without_code:
            template, fields = channel.template_without_code, [(n, f) for n, f in names if f != "code"]
        params = tuple(
            (n, str(code or NO_CODE) if f == "code" else cleaned(values[f], limit)) for n, f in fields
        )
        groups.setdefault((template, params), []).append(number)
    batches = [
        Batch(template, params, tuple(numbers[i : i + max_numbers]))
        for (template, params), numbers in groups.items()
        for i in range(0, len(numbers), max_numbers)
    ]
    return batches, tally
