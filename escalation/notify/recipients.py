"""Who a notification's payload addresses, as every integration reads it: the recipients' phone
numbers, their mobile numbers (what a group robot can @), and each person's own acknowledgement
link with the words that name them ("值班员李四")."""

from __future__ import annotations

import re
from typing import Any

from alerting.policy.roster import addressed


def recipient_phones(payload: dict[str, Any]) -> list[str]:
    """Distinct non-empty phone numbers of payload["recipients"], in order; [] when absent."""
    phones: list[str] = []
    for recipient in payload.get("recipients") or ():
        phone = recipient.get("phone") if isinstance(recipient, dict) else None
        if isinstance(phone, str) and phone.strip() and phone.strip() not in phones:
            phones.append(phone.strip())
    return phones


def mobile(phone: object) -> str | None:
    """A mainland mobile number as 11 digits without +86, or None (a landline, not a number)."""
    found = re.fullmatch(r"(?:\+?86[- ]?)?(1\d{10})", phone.strip()) if isinstance(phone, str) else None
    return found.group(1) if found else None


def mobiles(payload: dict[str, Any]) -> list[str]:
    """The recipients' mainland mobile numbers, without a +86 prefix, in order: the robots (DingTalk,
    WeCom) mention by mobile only, and SMS reaches mobiles only, so a landline such as 0791-80000001
    is left out."""
    found = []
    for phone in recipient_phones(payload):
        number = mobile(phone)
        if number and number not in found:
            found.append(number)
    return found


def personal_links(payload: dict[str, Any]) -> list[tuple[dict[str, Any], str]]:
    """(recipient, their own ack link) for every recipient that has one, in order."""
    found: list[tuple[dict[str, Any], str]] = []
    for recipient in payload.get("recipients") or ():
        link = recipient.get("ack_url") if isinstance(recipient, dict) else None
        if isinstance(link, str) and link:
            found.append((recipient, link))
    return found


def who(recipient: dict[str, Any]) -> str:
    """How a group message names the person a link acknowledges for, e.g. 值班员李四."""
    return addressed(str(recipient.get("role") or ""), str(recipient.get("name") or ""))


# Text from townships (titles, names) must not become markdown: a title "[..](http://…)" would
# show as a link. Markdown's marks are shown as their full-width look-alikes instead.
_MARKS = str.maketrans(
    {
        "[": "［",
        "]": "］",
        "(": "（",
        ")": "）",
        "*": "＊",
        "_": "＿",
        "`": "｀",
        "<": "＜",
        ">": "＞",
        "#": "＃",
    }
)


def plain(text: str) -> str:
    """`text` shown as written in a markdown message."""
    return text.translate(_MARKS)
