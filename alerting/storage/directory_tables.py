"""Tables of who is who, changed at run time: the duty roster (值班表), the posts (section chief,
director, the office's duty phone, each township's leader), people's Feishu ids, and the log of every
change to them. Nothing is overwritten: a shift is withdrawn, a post gets a new row, and each act is
a change row."""

from __future__ import annotations

from sqlalchemy import JSON, Column, Index, String, Table

from alerting.storage.schema import BigId, UTCDateTime, metadata

# One duty shift, [starts_at, ends_at). Where active shifts overlap, the one that started last wins,
# and on equal starts the one entered last (the higher id): a swap entered over a regular shift.
shifts = Table(
    "shifts",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("starts_at", UTCDateTime, nullable=False),
    Column("ends_at", UTCDateTime, nullable=False),
    Column("duty_officer", String(50), nullable=False),
    Column("duty_officer_phone", String(40), nullable=False),
    Column("leader_on_duty", String(50)),
    Column("leader_phone", String(40)),
    Column("source", String(16), nullable=False),  # policy | import | api | cli
    Column("change_id", BigId, nullable=False),  # the change that entered it
    Column("withdrawn_by", BigId),  # the change that withdrew it
    Index("ix_shifts_ends_at", "ends_at"),  # the directory loads the shifts not yet over
)

# A post's holder from `set_at` on: the current holder is the newest row of (role, township). A row
# without a name leaves the post vacant.
posts = Table(
    "posts",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("role", String(32), nullable=False),
    Column("township", String(64), nullable=False),  # "" for the county's own posts
    Column("name", String(50)),
    Column("phone", String(40)),
    Column("change_id", BigId, nullable=False),
    Index("ix_posts_role_township", "role", "township", "id"),
)

# Each person's Feishu id (what a Feishu bot mentions; it cannot mention by phone) from `change_id` on,
# keyed by phone_key(phone): the current one is the newest row of a phone; a row without an id clears
# it. Who set it, when and why is the change's row.
feishu_ids = Table(
    "feishu_ids",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("phone", String(40), nullable=False),
    Column("feishu_user_id", String(64)),
    Column("change_id", BigId, nullable=False),
    Index("ix_feishu_ids_phone", "phone", "id"),
)

# Every change, in order: what a cached directory compares to know it is stale.
directory_changes = Table(
    "directory_changes",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column(
        "action", String(24), nullable=False
    ),  # seeded | shift_added | shift_withdrawn | imported | post_set | feishu_ids_set
    Column("by", String(100), nullable=False),
    Column("at", UTCDateTime, nullable=False),
    Column("note", String(500), nullable=False),
    Column("details", JSON, nullable=False),  # counts, the span replaced, the policy's fingerprint
)
