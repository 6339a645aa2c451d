"""Notification delivery: the outbox worker and one module per integration."""
