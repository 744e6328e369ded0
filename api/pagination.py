"""Opaque cursors and ``limit=`` for keyset paging.

A cursor is the position after the last row of a page (the values of the sort key), as compact
JSON in unpadded URL-safe base64. Clients must treat it as opaque and pass it back unchanged.
Each listing reads its cursor back through a pydantic model of exactly what it issues
(:class:`TenantCursor`, :class:`AuditCursor`, :class:`KeysetCursor`): anything else, including
text PostgreSQL could not take (a lone surrogate, a NUL), is a 400 "cursor is not valid".
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from typing import Annotated, Any, TypeVar

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StrictInt,
    StrictStr,
    ValidationError,
    field_validator,
)
from starlette.requests import Request

from adinsights_pipelines.tenant_store import TENANT_ID_PATTERN
from adinsights_pipelines.validation import PgText, to_utc
from api.problems import Problem

MAX_CURSOR_LENGTH = 1024
_LIMIT = re.compile(r"^[0-9]{1,9}$")


def encode_cursor(values: dict[str, Any]) -> str:
    raw = json.dumps(values, separators=(",", ":"), sort_keys=True, default=str).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


class _Cursor(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TenantCursor(_Cursor):
    """After a tenant id (tenant-paged views)."""

    after: Annotated[StrictStr, Field(pattern=TENANT_ID_PATTERN.pattern)]


class AuditCursor(_Cursor):
    """After an audit event (its time, then its id)."""

    created_at: Annotated[AwareDatetime, AfterValidator(to_utc)]
    id: Annotated[StrictInt, Field(ge=0, lt=2**63)]

    @field_validator("created_at", mode="before")
    @classmethod
    def _issued_as_text(cls, value: object) -> object:
        if not isinstance(value, str) or len(value) > 64:
            raise ValueError("not an ISO-8601 time")
        return value


class KeysetCursor(_Cursor):
    """After a row of a keyset listing: its sort key's values, as text."""

    after: Annotated[list[Annotated[PgText, Field(max_length=200)]], Field(max_length=8)]


CursorT = TypeVar("CursorT", bound=_Cursor)


def decode_cursor(raw: str, shape: type[CursorT]) -> CursorT:
    """The cursor :func:`encode_cursor` issued, as ``shape``; a 400 problem for anything else."""
    values = _decode(raw)
    try:
        return shape.model_validate(values)
    except ValidationError:
        raise Problem(400, "cursor is not valid") from None


def _decode(raw: str) -> dict[str, Any]:
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
