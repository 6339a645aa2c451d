"""Escalation: deadline rules, the wake-up loop, the firing engine and notification delivery."""
