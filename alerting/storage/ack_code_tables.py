"""Tables of the cloud SMS channels: each person's acknowledgement code of a notification, and the
numbers a notification's SMS is settled for (escalation/notify/ack_codes.py)."""

from __future__ import annotations

from sqlalchemy import Column, Integer, String, Table, UniqueConstraint

from alerting.storage.schema import BigId, UTCDateTime, metadata

# A code stands for one person's signed acknowledgement link (alerting/links.py): GET /s/{code}
# leads to /ack/{token}. Issued once per person per notification, so every retry sends the same code.
ack_codes = Table(
    "ack_codes",
    metadata,
    Column("code", String(16), primary_key=True),
    Column("notification_id", BigId, nullable=False),
    Column("recipient", Integer, nullable=False),  # the person's place in the payload's recipients
    Column("token", String(1000), nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),  # the token's own expiry
    Column("created_at", UTCDateTime, nullable=False),
    UniqueConstraint("notification_id", "recipient"),
)

# A number the provider took the notification's SMS for ("sent"), or refused for good (why): a retry
# of the notification sends to the other numbers only.
sms_settled = Table(
    "sms_settled",
    metadata,
    Column("notification_id", BigId, primary_key=True),
    Column("mobile", String(16), primary_key=True),
    Column("outcome", String(200), nullable=False),
    Column("at", UTCDateTime, nullable=False),
)
