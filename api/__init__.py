"""The read-only JSON API (Starlette)."""
