"""Bearer API keys and tenant scoping: every tenant-scoped query gets its tenant from here."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa
from starlette.requests import Request

from adinsights_pipelines.api_keys import Principal, verify_api_key
from adinsights_pipelines.tenant_store import TENANT_ID_PATTERN
from api.observability import request_context
from api.problems import Problem
from api.state import reader_of, state_of


def authenticate(request: Request, conn: sa.Connection | None = None) -> Principal:
    """The request's principal; ``conn``, when given, is a connection the route holds anyway
    (one checkout per request on the hot paths)."""
    header = request.headers.get("authorization", "")
    scheme, _, key = header.partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        raise Problem(401, "missing bearer API key (Authorization: Bearer <key>)")
    with _connection(request, conn) as usable:
        principal = verify_api_key(usable, key.strip())
    if principal is None:
        raise Problem(401, "invalid or revoked API key, or its tenant is deactivated")
    state_of(request).key_usage.used(principal.key_prefix)
    context = request_context(request.scope)
    if context is not None:
        context.api_key_prefix = principal.key_prefix
    return principal


def scoped_tenant(request: Request, principal: Principal, conn: sa.Connection | None = None) -> str:
    """The one tenant this request may read.

    A tenant key reads only its own tenant (naming another is refused); an operator key must
    say which tenant with ``tenant_id=``, and that tenant must exist.
    """
    requested = request.query_params.get("tenant_id")
    if requested is not None and not TENANT_ID_PATTERN.fullmatch(requested):
        raise Problem(400, "tenant_id is not a valid tenant id")
    if principal.is_operator:
        if not requested:
            raise Problem(400, "operator keys must pass tenant_id")
        with _connection(request, conn) as usable:
            known = usable.execute(
                sa.text("select 1 from app.tenants where id = :t"), {"t": requested}
            ).first()
        if known is None:
            raise Problem(404, f"no tenant {requested}", "tenant-not-found")
        tenant_id = requested
    else:
        assert principal.tenant_id is not None
        if requested and requested != principal.tenant_id:
            raise Problem(403, "this API key cannot read other tenants")
        tenant_id = principal.tenant_id
    context = request_context(request.scope)
    if context is not None:
        context.tenant_id = tenant_id
    return tenant_id


@contextmanager
def _connection(request: Request, conn: sa.Connection | None) -> Iterator[sa.Connection]:
    if conn is not None:
        yield conn
    else:
        with reader_of(request).connect() as own:
            yield own


def tenant_scope(request: Request, principal: Principal) -> str | None:
    """Like :func:`scoped_tenant`, for cross-tenant views: an operator key that passes no
    ``tenant_id=`` sees every tenant (``None``)."""
    if principal.is_operator and not request.query_params.get("tenant_id"):
        return None
    return scoped_tenant(request, principal)
