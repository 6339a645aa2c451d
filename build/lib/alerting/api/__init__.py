"""HTTP API (FastAPI): intake, incidents, accountability, health and metrics."""
