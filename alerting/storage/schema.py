"""Table definitions (SQLAlchemy Core). Migrations in alerting/storage/migrations follow this file."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Dialect,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
)
from sqlalchemy.types import TypeEngine


class UTCDateTime(TypeDecorator[datetime]):
    """Stores UTC, always returns aware UTC datetimes (SQLite keeps no offset)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def bind_processor(self, dialect: Dialect) -> Any:
        if dialect.name != "sqlite":
            return super().bind_processor(dialect)

        # Bulk intake binds hundreds of thousands of these: one step instead of two, to the text
        # SQLite's DateTime stores ("YYYY-MM-DD HH:MM:SS.ffffff", UTC).
        def to_text(value: datetime | None) -> str | None:
            if value is None:
                return None
            if value.tzinfo is None:
                raise ValueError("naive datetime given to the database")
            if value.tzinfo is not UTC:
                value = value.astimezone(UTC)
            return value.isoformat(" ", "microseconds")[:26]

        return to_text

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# An autoincrementing 64-bit key that SQLite also accepts as its rowid alias.
BigId: TypeEngine[int] = BigInteger().with_variant(Integer(), "sqlite")

metadata: MetaData = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

_BULK_REFERENCES: list[ForeignKeyConstraint] = []


def bulk_reference(column: str, target: str) -> ForeignKeyConstraint:
    """A reference from a table written in bulk. SQLite checks it as a foreign key. On PostgreSQL a
    foreign key looks up the parent once per inserted row; triggers (migration 0006) check each
    statement's rows with one join instead, and refuse an orphan with the same error."""
    constraint = ForeignKeyConstraint([column], [target]).ddl_if(dialect="sqlite")
    _BULK_REFERENCES.append(constraint)
    return constraint


incidents = Table(
    "incidents",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("township", String(64), nullable=False, index=True),
    Column("level", String(8), nullable=False),
    Column("category", String(64), nullable=False),
    Column("title", String(200), nullable=False),
    Column("status", String(16), nullable=False, index=True),  # open | closed
    # township: first heard of through a township report; county: registered by the county
    # from another channel (hotline, media, higher-level notice) while the township was silent.
    Column("origin", String(16), nullable=False),
    Column("source", String(32)),
    Column("registered_by", String(100)),
    Column("occurred_at", UTCDateTime, nullable=False),
    Column("known_at", UTCDateTime, nullable=False),
    Column("opened_at", UTCDateTime, nullable=False),  # when the county first heard of it
    Column("place", String(200)),
    Column("deaths", Integer),
    Column("injured", Integer),
    Column("missing_persons", Integer),
    Column("acknowledged_at", UTCDateTime),
    Column("acknowledged_by", String(100)),
    Column("closed_at", UTCDateTime),
    Column("updated_at", UTCDateTime, nullable=False),
)

reports = Table(
    "reports",
    metadata,
    Column("report_id", String(64), primary_key=True),
    Column("incident_id", String(64), nullable=False, index=True),
    Column("type", String(16), nullable=False),
    Column("township", String(64), nullable=False),
    Column("category", String(64), nullable=False),
    Column("level", String(8), nullable=False),
    Column("title", String(200), nullable=False),
    Column("summary", Text, nullable=False),
    Column("occurred_at", UTCDateTime, nullable=False),
    Column("known_at", UTCDateTime, nullable=False),
    Column("reported_at", UTCDateTime, nullable=False),
    Column("reporter_name", String(100), nullable=False),
    Column("reporter_phone", String(40), nullable=False),
    Column("place", String(200)),
    Column("deaths", Integer),
    Column("injured", Integer),
    Column("missing_persons", Integer),
    Column("is_problem", Boolean, nullable=False),  # reports a problem or risk (喜忧兼报)
    Column("stored_at", UTCDateTime, nullable=False),
    Column("late_by_seconds", Integer),
    # How the county knows who sent it and when: signed (by producer_key), unsigned (broker time,
    # township as claimed), or unrecorded (stored before messages were signed).
    Column("provenance", String(16), nullable=False, server_default="unrecorded"),
    Column("producer_key", String(64)),
    Index(None, "township", "reported_at"),
    Index("ix_reports_reported_at", "reported_at", postgresql_include=["township", "type"]),  # bulletins
    bulk_reference("incident_id", "incidents.id"),
)

_fire_at_set = text("fire_at IS NOT NULL")
_duty = text("incident_id IS NULL")
_has_period = text("period IS NOT NULL")

# Schema objects that exist on one backend only (`ddl_if`), by name; Alembic's comparisons skip them
# on the other (see `on_backend`).
ONE_BACKEND_ONLY = {"uq_deadlines_township_kind_period": "sqlite", "ux_deadlines_duty_period": "postgresql"}


def on_backend(dialect: str) -> Callable[..., bool]:
    """Alembic's `include_object` hook for `dialect`: leave out the other backend's objects."""

    def include(_object: object, name: str | None, _type: str, _reflected: bool, _compare_to: object) -> bool:
        return ONE_BACKEND_ONLY.get(name or "", dialect) == dialect

    return include


deadlines = Table(
    "deadlines",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    # NULL for township duties; looked up through the (incident_id, kind, seq) key
    Column("incident_id", String(64)),
    Column("township", String(64), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("seq", Integer, nullable=False, default=0),  # several of one kind (follow-ups)
    Column("period", String(64)),  # township duties: which period or stretch this row is for
    Column("due_at", UTCDateTime, nullable=False),
    Column("state", String(16), nullable=False),  # see alerting.domain.DeadlineState
    # Next moment this row needs attention (due_at, then each escalation round); NULL when done.
    Column("fire_at", UTCDateTime),
    Column("next_round", Integer, nullable=False, default=0),  # escalation rounds done or skipped
    Column("met_at", UTCDateTime),
    Column("met_by", String(100)),
    Column("context", JSON(none_as_null=True)),  # facts the firing needs (last report time, duty name)
    Column("created_at", UTCDateTime, nullable=False),
    UniqueConstraint("incident_id", "kind", "seq"),
    # A duty's key. Incident rows have no period, and NULLs never conflict: on PostgreSQL they stay
    # out of the index, which every intake COPY otherwise fills with (township, kind, NULL) keys.
    # SQLite keeps the table constraint it was created with (dropping it means rebuilding the table).
    UniqueConstraint("township", "kind", "period").ddl_if(dialect="sqlite"),
    Index(
        "ux_deadlines_duty_period", "township", "kind", "period", unique=True, postgresql_where=_has_period
    ).ddl_if(dialect="postgresql"),
    # Partial indexes: most rows are settled or belong to an incident, and every insert pays for
    # every index. The deadline loop asks only for rows with a fire_at; duties only for duty rows.
    Index("ix_deadlines_fire_at", "fire_at", sqlite_where=_fire_at_set, postgresql_where=_fire_at_set),
    Index("ix_deadlines_duties", "township", "kind", "state", sqlite_where=_duty, postgresql_where=_duty),
    # A bulletin's period: counted from the index alone on PostgreSQL.
    Index("ix_deadlines_due_at", "due_at", postgresql_include=["kind", "township", "state", "met_at"]),
    bulk_reference("incident_id", "incidents.id"),
)

escalations = Table(
    "escalations",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("deadline_id", BigId, nullable=False),  # leads the (deadline_id, round) key
    Column("incident_id", String(64), index=True),
    Column("township", String(64), nullable=False),
    Column("round", Integer, nullable=False),
    Column("step", Integer, nullable=False),
    Column("roles", JSON, nullable=False),
    Column("recipients", JSON, nullable=False),  # [{role, name}]: phones stay in the payload only
    Column("fired_at", UTCDateTime, nullable=False),
    Column("scheduled_for", UTCDateTime, nullable=False),
    UniqueConstraint("deadline_id", "round"),
    bulk_reference("deadline_id", "deadlines.id"),
    bulk_reference("incident_id", "incidents.id"),
)

notifications = Table(
    "notifications",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("escalation_id", BigId, nullable=False, index=True),
    Column("incident_id", String(64), index=True),
    Column("channel", String(64), nullable=False),
    Column("idempotency_key", String(200), nullable=False),
    Column("payload", JSON, nullable=False),
    Column("state", String(16), nullable=False),  # pending | sending | sent | failed
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", UTCDateTime, index=True),  # NULL once sent or failed
    Column("last_error", String(500)),
    Column("created_at", UTCDateTime, nullable=False),
    Column("sent_at", UTCDateTime),
    # Set when the row went out in a digest: the digest's own key, so a retry resends the same digest.
    Column("digest_key", String(80)),
    UniqueConstraint("idempotency_key", "channel"),
    bulk_reference("escalation_id", "escalations.id"),
    bulk_reference("incident_id", "incidents.id"),
)
ONE_BACKEND_ONLY.update({str(c.name): "sqlite" for c in _BULK_REFERENCES})

# A channel's rate budget, shared by every replica: one row per message a window allows. A send
# takes a slot free for the window (used_at NULL or older than it); used_at is the reservation's end
# while the send is out, then the time its answer came, which is after the provider counted it.
channel_slots = Table(
    "channel_slots",
    metadata,
    Column("channel", String(64), primary_key=True),
    Column("rule", String(24), primary_key=True),  # RateLimit.rule, e.g. "20/60s"
    Column("slot", Integer, primary_key=True),
    Column("used_at", UTCDateTime),
)

_reviews = text("kind = 'review'")

accountability_entries = Table(
    "accountability_entries",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("kind", String(32), nullable=False),
    Column("township", String(64)),
    Column("incident_id", String(64), index=True),
    Column("report_id", String(64)),
    Column("deadline_id", BigInteger),
    Column("refers_to", BigInteger),
    Column("responsible", String(100), nullable=False),  # a role or a township office
    Column("occurred_at", UTCDateTime, nullable=False),  # when the failure happened
    Column("recorded_at", UTCDateTime, nullable=False),
    Column("delay_seconds", Integer),
    Column("details", JSON, nullable=False),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False, unique=True),
    # Ending in the id: a filtered page in id order is a range read that stops after one page.
    Index("ix_entries_township_id", "township", "id"),
    Index("ix_entries_kind_id", "kind", "id"),
    # PostgreSQL: with township and kind, so a period's totals are read from the index alone.
    Index("ix_entries_occurred_at_id", "occurred_at", "id", postgresql_include=["township", "kind"]),
    Index("ix_entries_reviews", "refers_to", "id", sqlite_where=_reviews, postgresql_where=_reviews),
)

# Each day's (UTC, by occurred_at) first and last entry id, kept by a trigger (migration 0018): the
# days overlapping a period bound its ids. Derived from the log, never evidence.
accountability_entry_days = Table(
    "accountability_entry_days",
    metadata,
    Column("day", Date, primary_key=True),
    Column("first_id", BigInteger, nullable=False),
    Column("last_id", BigInteger, nullable=False),
)

# Each reviewed entry's latest review, kept by a trigger (migration 0019): an entry's status and
# finding without a probe of its reviews. Derived from the log, never evidence.
accountability_review_state = Table(
    "accountability_review_state",
    metadata,
    Column("entry_id", BigInteger, primary_key=True, autoincrement=False),
    Column("review_id", BigInteger, nullable=False),
    Column("decision", Text, nullable=False),  # ReviewDecision; text: a derived row never refuses an append
    Column("finding", Text),  # a reclassification's `to`
)

incident_events = Table(
    "incident_events",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("incident_id", ForeignKey("incidents.id"), nullable=False, index=True),
    Column("at", UTCDateTime, nullable=False),
    Column("kind", String(32), nullable=False),  # registered, level_changed, acknowledged, closed, forwarded
    Column("actor", String(100), nullable=False),
    Column("details", JSON, nullable=False),
)

report_adoptions = Table(
    "report_adoptions",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("report_id", ForeignKey("reports.report_id"), nullable=False, index=True),
    Column("township", String(64), nullable=False, index=True),
    Column("level", String(16), nullable=False),  # county | city | province | national
    Column("adopted_at", UTCDateTime, nullable=False, index=True),
    Column("recorded_by", String(100), nullable=False),
    Column("note", String(500), nullable=False),
    UniqueConstraint("report_id", "level"),
)

bulletins = Table(
    "bulletins",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("kind", String(16), nullable=False),  # quarter | year
    Column("period", String(16), nullable=False),  # 2026-Q1 | 2026
    Column("published_at", UTCDateTime, nullable=False),
    Column("published_by", String(100), nullable=False),
    Column("content", JSON, nullable=False),  # frozen: later data does not change a published bulletin
    Column("content_hash", String(64), nullable=False),
    UniqueConstraint("kind", "period"),
)

service_keys = Table(
    "service_keys",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("value", String(200), nullable=False),
)

api_tokens = Table(
    "api_tokens",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("name", String(100), nullable=False),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("role", String(16), nullable=False),
    Column("township", String(64)),
    Column("created_at", UTCDateTime, nullable=False),
    Column("revoked_at", UTCDateTime),
)

# Keys the county issues to the systems that write to the report topic (HMAC-SHA256 over the value).
# The secret is kept encrypted (AES-GCM under the key-encryption key; see alerting/producer_keys.py).
producer_keys = Table(
    "producer_keys",
    metadata,
    Column("key_id", String(64), primary_key=True),
    Column("holder", String(100), nullable=False),
    Column("township", String(64)),  # set: the key speaks for this township only
    Column("secret_encrypted", String(200), nullable=False),
    Column("fingerprint", String(16), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("revoked_at", UTCDateTime),
)


# The information work beyond incidents (routine items, assignments, officers, notices, inspections),
# the directory of who is who, and people's accounts have their own modules; importing them here puts
# their tables on `metadata`, and lets callers import every table from here.
from alerting.storage.account_tables import operations, users, web_sessions  # noqa: E402
from alerting.storage.ack_code_tables import ack_codes, sms_settled  # noqa: E402
from alerting.storage.directory_tables import directory_changes, feishu_ids, posts, shifts  # noqa: E402
from alerting.storage.work_tables import (  # noqa: E402
    assignments,
    inspections,
    item_events,
    item_versions,
    items,
    notice_reads,
    notices,
    officer_changes,
    officers,
)

__all__ = [
    "ack_codes",
    "assignments",
    "directory_changes",
    "feishu_ids",
    "inspections",
    "item_events",
    "item_versions",
    "items",
    "notice_reads",
    "notices",
    "officer_changes",
    "officers",
    "operations",
    "posts",
    "shifts",
    "sms_settled",
    "users",
    "web_sessions",
]
