"""Bearer API keys and tenant scoping: every tenant-scoped query gets its tenant from here."""

from __future__ import annotations

from starlette.requests import Request

from adinsights_pipelines.api_keys import Principal, verify_api_key
from adinsights_pipelines.tenants import TENANT_ID_PATTERN
from api.problems import Problem
from api.state import engine_of


def authenticate(request: Request) -> Principal:
    header = request.headers.get("authorization", "")
    scheme, _, key = header.partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        raise Problem(401, "missing bearer API key (Authorization: Bearer <key>)")
    with engine_of(request).connect() as conn:
        principal = verify_api_key(conn, key.strip())
    if principal is None:
        raise Problem(401, "invalid or revoked API key")
    return principal


def scoped_tenant(request: Request, principal: Principal) -> str:
    """The one tenant this request may read.

    A tenant key reads only its own tenant (naming another is refused); an operator key must
    say which tenant with ``tenant_id=``.
    """
    requested = request.query_params.get("tenant_id")
    if requested is not None and not TENANT_ID_PATTERN.match(requested):
        raise Problem(400, "tenant_id is not a valid tenant id")
    if principal.is_operator:
        if not requested:
            raise Problem(400, "operator keys must pass tenant_id")
        return requested
    assert principal.tenant_id is not None
    if requested and requested != principal.tenant_id:
        raise Problem(403, "this API key cannot read other tenants")
    return principal.tenant_id


def tenant_scope(request: Request, principal: Principal) -> str | None:
    """For rollups across tenants: the one tenant a tenant key may see, or for an operator key
    the ``tenant_id=`` it names, or ``None`` meaning every tenant."""
    requested = request.query_params.get("tenant_id")
    if principal.is_operator and not requested:
        return None
    return scoped_tenant(request, principal)
