"""Tables of the information work beyond incidents: routine items (日常信息) with their versions and
events, assignments (约稿), the information officers' register (信息员队伍), notices to townships with
their reads (通报) and inspections of the information network (六有). They share `metadata` with
alerting/storage/schema.py, which re-exports them."""

from __future__ import annotations

from sqlalchemy import JSON, Boolean, Column, Date, ForeignKey, Index, Integer, String, Table, Text

from alerting.storage.schema import BigId, UTCDateTime, metadata

# Routine items (日常信息): no urgent clocks; the information section reviews each version.
items = Table(
    "items",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("township", String(64), nullable=False),
    Column("category", String(64), nullable=False),
    Column("title", String(200), nullable=False),  # the current version's
    Column("assignment_id", String(64)),
    Column("is_problem", Boolean, nullable=False),
    Column("status", String(16), nullable=False),  # see alerting.domain.ItemStatus
    Column("version", Integer, nullable=False),  # the current one
    Column("submitted_at", UTCDateTime, nullable=False),  # the first version's receipt
    Column("updated_at", UTCDateTime, nullable=False),  # the current version's receipt or the decision
    Column("decided_at", UTCDateTime),
    Column("decided_by", String(100)),
    Column("reason", String(1000)),
    Column("adoption_level", String(16)),  # county | city | province | national
    Column("publication", String(100)),  # e.g. 《XX信息》
    Column("publication_issue", String(50)),  # e.g. 2026年第12期
    Column("publication_date", String(10)),  # ISO date
    Index("ix_items_township_submitted", "township", "submitted_at"),
    Index("ix_items_status", "status"),
)

item_versions = Table(
    "item_versions",
    metadata,
    Column("item_id", ForeignKey("items.id"), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("submission_id", String(64), nullable=False, unique=True),
    Column("title", String(200), nullable=False),
    Column("text", Text, nullable=False),
    Column("attachments", JSON, nullable=False),  # file names
    Column("reporter_name", String(100), nullable=False),
    Column("reporter_phone", String(40), nullable=False),
    Column("submitted_at", UTCDateTime, nullable=False),
    Column("stored_at", UTCDateTime, nullable=False),
    Column("provenance", String(16), nullable=False),
    Column("producer_key", String(64)),
)

# What happened to an item, in order: who submitted, decided or forwarded it, when and why.
item_events = Table(
    "item_events",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("item_id", ForeignKey("items.id"), nullable=False, index=True),
    Column("version", Integer, nullable=False),
    Column("kind", String(16), nullable=False),  # submitted | adopted | returned | filed | forwarded
    Column("at", UTCDateTime, nullable=False),
    Column("actor", String(100), nullable=False),
    Column("details", JSON, nullable=False),
)

# Assignments (约稿): each township's part is a deadline row (kind `assignment`, period "assignment:<id>").
assignments = Table(
    "assignments",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("title", String(200), nullable=False),
    Column("note", Text, nullable=False),
    Column("due_at", UTCDateTime, nullable=False, index=True),
    Column("townships", JSON, nullable=False),
    Column("created_by", String(100), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
)

# The township information officers (信息员队伍): a term per row; a change is registered (备案), never
# overwritten: ending a term sets `ends_on` once, and every registration is in officer_changes.
officers = Table(
    "officers",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("township", String(64), nullable=False, index=True),
    Column("name", String(100), nullable=False),
    Column("phone", String(40), nullable=False),
    Column("employment", String(16), nullable=False),  # full_time 专职 | part_time 兼职
    Column("starts_on", Date, nullable=False),
    Column("ends_on", Date),  # the last day of the term; NULL: open-ended
    Column("registered_by", String(100), nullable=False),
    Column("registered_at", UTCDateTime, nullable=False),
)

officer_changes = Table(
    "officer_changes",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("officer_id", ForeignKey("officers.id"), nullable=False, index=True),
    Column("kind", String(16), nullable=False),  # registered | ended
    Column("effective_on", Date, nullable=False),
    Column("by", String(100), nullable=False),
    Column("at", UTCDateTime, nullable=False),
    Column("note", String(500), nullable=False),
)

# Notices (通报工作动态、报送要点) the information section sends to townships. One notice_reads row per
# township addressed, made when the notice is sent; the first read sets read_at and read_by, once.
notices = Table(
    "notices",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("kind", String(24), nullable=False),  # work_update 通报工作动态 | reporting_points 报送要点
    Column("title", String(200), nullable=False),
    Column("body", Text, nullable=False),
    Column("to_all", Boolean, nullable=False),  # addressed to every township of the directory
    Column("sent_by", String(100), nullable=False),
    Column("sent_at", UTCDateTime, nullable=False, index=True),
)

notice_reads = Table(
    "notice_reads",
    metadata,
    Column("notice_id", ForeignKey("notices.id"), primary_key=True),
    Column("township", String(64), primary_key=True),
    Column("read_at", UTCDateTime),  # NULL: not read yet
    Column("read_by", String(100)),
    Index("ix_notice_reads_township", "township"),
)

# Inspections of a township's information network (信息网络建设检查, 六有): each one a row, never
# overwritten. `findings` maps every condition of alerting.domain.NETWORK_CONDITIONS to met or not.
inspections = Table(
    "inspections",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("township", String(64), nullable=False),
    Column("inspected_on", Date, nullable=False),
    Column("inspectors", JSON, nullable=False),  # names
    Column("findings", JSON, nullable=False),
    Column("met", Integer, nullable=False),  # how many conditions are met
    Column("note", Text, nullable=False),
    Column("recorded_by", String(100), nullable=False),
    Column("recorded_at", UTCDateTime, nullable=False),
    Index("ix_inspections_township_inspected_on", "township", "inspected_on"),
)
