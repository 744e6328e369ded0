"""Opaque cursors and ``limit=`` for keyset paging.

A cursor is the position after the last row of a page (the values of the sort key), as compact
JSON in unpadded URL-safe base64. Clients must treat it as opaque and pass it back unchanged.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from typing import Any

from starlette.requests import Request

from api.problems import Problem

MAX_CURSOR_LENGTH = 1024
_LIMIT = re.compile(r"^[0-9]{1,9}$")


def encode_cursor(values: dict[str, Any]) -> str:
    raw = json.dumps(values, separators=(",", ":"), sort_keys=True, default=str).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def decode_cursor(raw: str) -> dict[str, Any]:
    """The values :func:`encode_cursor` encoded; a 400 problem for anything else."""
    try:
        if not raw or len(raw) > MAX_CURSOR_LENGTH:
            raise ValueError("empty or too long")
        padded = raw + "=" * (-len(raw) % 4)
        data = base64.b64decode(padded.encode("ascii"), altchars=b"-_", validate=True)
        values = json.loads(data.decode("utf-8"))
    except (ValueError, UnicodeError, binascii.Error):
        raise Problem(400, "cursor is not valid") from None
    if not isinstance(values, dict):
        raise Problem(400, "cursor is not valid")
    return values


def parse_limit(request: Request, default: int = 50, maximum: int = 500) -> int:
    """``limit=`` as an integer from 1 to ``maximum``; ``default`` when absent."""
    raw = request.query_params.get("limit")
    if raw is None:
        return default
    if not _LIMIT.match(raw) or not 1 <= int(raw) <= maximum:
        raise Problem(400, f"limit must be an integer from 1 to {maximum}")
    return int(raw)
