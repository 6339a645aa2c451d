"""People's Feishu ids (飞书 open_id) as the county's office keeps them: a Feishu bot can mention a
person only by this id, never by phone, so the directory maps each phone to one. Set one at a time
or imported from a CSV; each act is a directory change (who, when, why, how many) and the earlier ids
stay in the table. Firing reads the current ones with the rest of the directory (escalation/
directory.py) at its next pass; an id nobody set is never guessed: that person is not mentioned."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from alerting.county.directory import record_change
from alerting.policy.roster import Person, phone_key
from alerting.storage.schema import directory_changes, feishu_ids
from escalation.directory import current_feishu_ids

ACTION = "feishu_ids_set"
PHONE_COLUMNS, ID_COLUMNS = ("电话", "手机号", "phone"), ("飞书ID", "飞书 ID", "open_id", "feishu_user_id")


@dataclass(frozen=True, slots=True)
class Entry:
    """One person's id as given: `feishu_user_id` None clears it."""

    phone: str
    feishu_user_id: str | None


class BadEntry(ValueError):
    """A phone that is not a phone number, or an id that is not a Feishu id (`field` says which)."""

    def __init__(self, field: str) -> None:
        super().__init__(
            "电话须为 3～40 位数字（可含 + - ( ) 空格）/ not a phone number"
            if field == "phone"
            else "飞书 ID 只含字母、数字、_ 和 -（如 ou_ 开头的 open_id）/ not a Feishu id (e.g. ou_…)"
        )
        self.field = field


def checked(phone: str, feishu_user_id: str | None) -> Entry:
    """The entry with the phone and id as a Person holds them; BadEntry (naming neither value)."""
    try:
        person = Person(name="-", phone=phone, feishu_user_id=feishu_user_id or None)
    except ValidationError as exc:
        raise BadEntry(str(exc.errors()[0]["loc"][0])) from None
    return Entry(person.phone, person.feishu_user_id)


def parse_csv(data: bytes, path: str = "feishu_ids.csv") -> list[Entry]:
    """Entries from a CSV (UTF-8, with or without Excel's BOM) whose header names a phone column
    (电话, 手机号 or phone) and an id column (飞书ID, open_id or feishu_user_id); other columns (姓名)
    are ignored, an empty id clears it. A bad row is a ValueError naming `path`, the line and the
    column."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ValueError(f"{path}: not UTF-8; in Excel save it as 'CSV UTF-8 (逗号分隔)'") from None
    rows = csv.reader(io.StringIO(text, newline=""))
    header = [cell.strip() for cell in next(rows, [])]
    phone_at = next((header.index(c) for c in PHONE_COLUMNS if c in header), None)
    id_at = next((header.index(c) for c in ID_COLUMNS if c in header), None)
    if phone_at is None or id_at is None:
        raise ValueError(f"{path}: line 1: the header needs a column 电话 and a column 飞书ID")
    entries: list[Entry] = []
    for cells in rows:
        if not any(cell.strip() for cell in cells):
            continue
        phone, ident = (cells[at].strip() if at < len(cells) else "" for at in (phone_at, id_at))
        try:
            entries.append(checked(phone, ident or None))
        except BadEntry as exc:
            column = header[phone_at] if exc.field == "phone" else header[id_at]
            raise ValueError(f"{path}: line {rows.line_num}, column {column}: {exc}") from None
    return entries


async def set_ids(
    conn: AsyncConnection, entries: Sequence[Entry], by: str, note: str, now: datetime
) -> dict[str, Any]:
    """Give each entry's phone its id from now on (the last entry of a phone wins); an entry that
    changes nothing is left out, and with nothing changed no change is recorded. Returns the counts
    (set, cleared, unchanged) and the change's id, if any."""
    wanted = {phone_key(e.phone): e.feishu_user_id for e in entries}
    held = await current_feishu_ids(conn)
    changed = {phone: ident for phone, ident in wanted.items() if held.get(phone) != ident}
    counts = {
        "set": sum(1 for ident in changed.values() if ident),
        "cleared": sum(1 for ident in changed.values() if not ident),
        "unchanged": len(wanted) - len(changed),
    }
    if not changed:
        return {**counts, "change_id": None}
    change_id = await record_change(conn, ACTION, by, note, dict(counts), now)
    await conn.execute(
        feishu_ids.insert(),
        [{"phone": p, "feishu_user_id": i, "change_id": change_id} for p, i in changed.items()],
    )
    return {**counts, "change_id": change_id}


async def list_ids(conn: AsyncConnection) -> list[dict[str, Any]]:
    """The ids in effect, by phone, each with who set it, when and why."""
    newest = select(func.max(feishu_ids.c.id)).group_by(feishu_ids.c.phone)
    query = (
        select(feishu_ids, directory_changes.c.by, directory_changes.c.at, directory_changes.c.note)
        .join(directory_changes, directory_changes.c.id == feishu_ids.c.change_id)
        .where(feishu_ids.c.id.in_(newest), feishu_ids.c.feishu_user_id.is_not(None))
        .order_by(feishu_ids.c.phone)
    )
    return [
        {
            "phone": r.phone,
            "feishu_user_id": r.feishu_user_id,
            "by": r.by,
            "at": r.at.isoformat(),
            "note": r.note,
        }
        for r in await conn.execute(query)
    ]
