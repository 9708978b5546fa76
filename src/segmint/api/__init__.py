"""The HTTP service: the versioned JSON API under ``/v1`` (FastAPI), see docs/api.md."""
