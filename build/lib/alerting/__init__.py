"""County urgent-incident reporting and alerting service."""

__version__ = "0.1.0"
