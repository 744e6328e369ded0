"""``GET /api/audit-logs/``: the tenant's audit trail, newest first, in keyset pages.

Filters: ``action``, ``resource_type`` (exact match). Paging: ``limit`` (1-500, default 50) and
the opaque ``cursor`` from the previous page's ``next_cursor`` (null on the last page).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from starlette.requests import Request
from starlette.responses import JSONResponse

from adinsights_pipelines.audit import audit_event_json
from api import params
from api.auth import authenticate, scoped_tenant
from api.pagination import AuditCursor, decode_cursor, encode_cursor, parse_limit
from api.state import state_of

MAX_FILTER_LENGTH = 100


def _position(request: Request) -> tuple[datetime, int] | None:
    """The (created_at, id) after which this page starts, from ``cursor=``."""
    raw = request.query_params.get("cursor")
    if raw is None or raw == "":
        return None
    cursor = decode_cursor(raw, AuditCursor)
    moment, row_id = cursor.created_at, cursor.id
    return moment, row_id


def audit_logs(request: Request) -> JSONResponse:
    """The tenant's audit events, newest first.

    ---
    summary: The tenant's audit trail
    tags: [audit]
    parameters:
      - name: action
        in: query
        required: false
        description: Only events with this action (exact), e.g. `api_key_created`.
        schema: {type: string, maxLength: 100}
      - name: resource_type
        in: query
        required: false
        description: Only events on this kind of resource (exact), e.g. `credential`.
        schema: {type: string, maxLength: 100}
      - $ref: '#/components/parameters/TenantId'
      - $ref: '#/components/parameters/Limit'
      - $ref: '#/components/parameters/Cursor'
    responses:
      200:
        description: One page of events, newest first.
        content:
          application/json:
            schema: {$ref: '#/components/schemas/AuditEventPage'}
    """
    principal = authenticate(request)
    tenant_id = scoped_tenant(request, principal)
    action = params.text(request, "action", MAX_FILTER_LENGTH)
    resource_type = params.text(request, "resource_type", MAX_FILTER_LENGTH)
    limit = parse_limit(request)
    position = _position(request)

    conditions = ["tenant_id = :tenant_id"]
    bound: dict[str, Any] = {"tenant_id": tenant_id, "limit": limit + 1}
    if action is not None:
        conditions.append("action = :action")
        bound["action"] = action
    if resource_type is not None:
        conditions.append("resource_type = :resource_type")
        bound["resource_type"] = resource_type
    if position is not None:
        conditions.append("(created_at, id) < (:after_created_at, :after_id)")
        bound["after_created_at"], bound["after_id"] = position
    # Only fixed fragments are joined; every value is a bound parameter.
    query = sa.text(
        "select id, tenant_id, actor, action, resource_type, resource_id, metadata, created_at "
        "from app.audit_log where "
        + " and ".join(conditions)
        + " order by created_at desc, id desc limit :limit"
    )
    with state_of(request).engine.connect() as conn:
        rows = conn.execute(query, bound).all()

    page, more = rows[:limit], len(rows) > limit
    next_cursor = (
        encode_cursor({"created_at": page[-1].created_at.isoformat(), "id": page[-1].id})
        if more
        else None
    )
    return JSONResponse(
        {"results": [audit_event_json(r) for r in page], "next_cursor": next_cursor}
    )
