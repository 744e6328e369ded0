"""``GET /api/audit-logs/``: the tenant's audit trail, newest first, in keyset pages.

Filters: ``action``, ``resource_type`` (exact match). Paging: ``limit`` (1-500, default 50) and
the opaque ``cursor`` from the previous page's ``next_cursor`` (null on the last page).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from starlette.requests import Request
from starlette.responses import JSONResponse

from api.auth import authenticate, scoped_tenant
from api.pagination import decode_cursor, encode_cursor, parse_limit
from api.problems import Problem
from api.state import state_of

MAX_FILTER_LENGTH = 100


def _filter_param(request: Request, name: str) -> str | None:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return None
    if len(raw) > MAX_FILTER_LENGTH:
        raise Problem(400, f"{name} is too long (at most {MAX_FILTER_LENGTH} characters)")
    return raw


def _position(request: Request) -> tuple[datetime, int] | None:
    """The (created_at, id) after which this page starts, from ``cursor=``."""
    raw = request.query_params.get("cursor")
    if raw is None or raw == "":
        return None
    values = decode_cursor(raw)
    created_at, row_id = values.get("created_at"), values.get("id")
    if not isinstance(created_at, str) or type(row_id) is not int or not 0 <= row_id < 2**63:
        raise Problem(400, "cursor is not valid")
    try:
        moment = datetime.fromisoformat(created_at)
    except ValueError:
        raise Problem(400, "cursor is not valid") from None
    if moment.tzinfo is None:
        raise Problem(400, "cursor is not valid")
    return moment, row_id


def _row(row: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "tenant_id": row.tenant_id,
        "actor": row.actor,
        "action": row.action,
        "resource_type": row.resource_type,
        "resource_id": row.resource_id,
        "metadata": row.metadata,
        "created_at": row.created_at.astimezone(UTC).isoformat(),
    }


def audit_logs(request: Request) -> JSONResponse:
    principal = authenticate(request)
    tenant_id = scoped_tenant(request, principal)
    action = _filter_param(request, "action")
    resource_type = _filter_param(request, "resource_type")
    limit = parse_limit(request)
    position = _position(request)

    conditions = ["tenant_id = :tenant_id"]
    params: dict[str, Any] = {"tenant_id": tenant_id, "limit": limit + 1}
    if action is not None:
        conditions.append("action = :action")
        params["action"] = action
    if resource_type is not None:
        conditions.append("resource_type = :resource_type")
        params["resource_type"] = resource_type
    if position is not None:
        conditions.append("(created_at, id) < (:after_created_at, :after_id)")
        params["after_created_at"], params["after_id"] = position
    # Only fixed fragments are joined; every value is a bound parameter.
    query = sa.text(
        "select id, tenant_id, actor, action, resource_type, resource_id, metadata, created_at "
        "from app.audit_log where "
        + " and ".join(conditions)
        + " order by created_at desc, id desc limit :limit"
    )
    with state_of(request).engine.connect() as conn:
        rows = conn.execute(query, params).all()

    page, more = rows[:limit], len(rows) > limit
    next_cursor = (
        encode_cursor({"created_at": page[-1].created_at.isoformat(), "id": page[-1].id})
        if more
        else None
    )
    return JSONResponse({"results": [_row(r) for r in page], "next_cursor": next_cursor})
