"""Tables of people who sign in to the web pages: their accounts, their server-side sessions, and the
operations log (操作日志) of every act done through an account or the user commands."""

from __future__ import annotations

from sqlalchemy import JSON, Boolean, Column, ForeignKey, Index, Integer, String, Table

from alerting.storage.schema import BigId, UTCDateTime, metadata

users = Table(
    "users",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("username", String(50), nullable=False, unique=True),
    Column("display_name", String(50), nullable=False),
    Column("role", String(16), nullable=False),  # alerting.domain.Role
    Column("township", String(64)),  # set for, and only for, the township role
    Column("password_hash", String(200), nullable=False),  # argon2 (PHC string)
    # A temporary password (set by an admin) must be replaced at the next sign-in.
    Column("must_change_password", Boolean, nullable=False),
    Column("failed_sign_ins", Integer, nullable=False),  # in a row; reset by a good sign-in or unlock
    Column("last_failed_at", UTCDateTime),
    Column("locked_at", UTCDateTime),
    Column("disabled_at", UTCDateTime),
    Column("last_sign_in_at", UTCDateTime),
    Column("created_by", String(100), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
)

# Only the SHA-256 of the random cookie value is kept: a copy of the database signs nobody in.
web_sessions = Table(
    "web_sessions",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("user_id", BigId, ForeignKey("users.id"), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("last_seen_at", UTCDateTime, nullable=False),
    Column("revoked_at", UTCDateTime),
    Column("csrf_secret", String(64), nullable=False),  # the synchronizer token of this session's forms
    Index("ix_web_sessions_user_id", "user_id"),
)

# Written in the same transaction as the act it records.
operations = Table(
    "operations",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("at", UTCDateTime, nullable=False),
    Column("actor", String(100), nullable=False),  # a username, or who ran a command (--by)
    Column("action", String(32), nullable=False),
    Column("target", String(100), nullable=False),  # "" when the act has none
    Column("details", JSON, nullable=False),
    Index("ix_operations_actor", "actor", "id"),
    Index("ix_operations_action", "action", "id"),
)
