"""What the listing endpoints share: the keyset cursor read from the request, one call to the
listing service (``services/listings.py``) and the page as JSON."""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Mapping, Sequence
from datetime import date
from decimal import Decimal
from typing import Any, TypeVar

from starlette.requests import Request
from starlette.responses import JSONResponse

from adinsights_pipelines.services import listings
from adinsights_pipelines.services.listings import Listing
from api import params
from api.pagination import KeysetCursor, decode_cursor, encode_cursor, parse_limit
from api.problems import Problem
from api.state import state_of

MAX_KEY_LENGTH = 200
Endpoint = TypeVar("Endpoint", bound=Callable[..., Any])

_OPERATION = """
    ---
    summary: {summary}
{description}    tags: [{tag}]
    parameters:
{parameters}      - $ref: '#/components/parameters/TenantId'
      - $ref: '#/components/parameters/Limit'
      - $ref: '#/components/parameters/Cursor'
    responses:
      200:
        description: {ordered}
        content:
          application/json:
            schema: {{$ref: '#/components/schemas/{schema}'}}
"""
_DAYS = """      - $ref: '#/components/parameters/Since'
      - $ref: '#/components/parameters/Until'
"""


def listing_operation(
    *,
    summary: str,
    tag: str,
    schema: str,
    ordered: str,
    parameters: str = "",
    days: bool = False,
    description: str | None = None,
) -> Callable[[Endpoint], Endpoint]:
    """Completes a listing endpoint's docstring with its OpenAPI operation (api/openapi.py):
    ``parameters`` (YAML list items, indented as in a docstring) first, then ``since``/``until``
    when ``days``, then what every listing takes: ``tenant_id``, ``limit`` and ``cursor``."""
    text = ""
    if description:
        text = "    description: >-\n" + textwrap.indent(textwrap.fill(description, 88), " " * 6)
        text += "\n"

    def document(endpoint: Endpoint) -> Endpoint:
        endpoint.__doc__ = (
            (endpoint.__doc__ or summary).rstrip()
            + "\n"
            + _OPERATION.format(
                summary=summary,
                description=text,
                tag=tag,
                parameters=parameters + (_DAYS if days else ""),
                ordered=ordered,
                schema=schema,
            )
        )
        return endpoint

    return document


def jsonable(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)  # money and counts as decimal strings: exact, as Meta sends them
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def _after(request: Request, listing: Listing) -> list[Any] | None:
    """The keyset position from ``cursor=``, each value checked so SQL can never reject it."""
    raw = request.query_params.get("cursor")
    if not raw:
        return None
    after = decode_cursor(raw, KeysetCursor).after
    if len(after) != len(listing.order):
        raise Problem(400, "cursor is not valid")
    values: list[Any] = []
    for column, value in zip(listing.order, after, strict=True):
        if not isinstance(value, str):
            raise Problem(400, "cursor is not valid")
        try:
            if column in listing.date_keys:
                values.append(params.parse_date("cursor", value))
            else:
                values.append(params.clean_text("cursor", value, MAX_KEY_LENGTH))
        except Problem:
            raise Problem(400, "cursor is not valid") from None
    return values


def listing_page(
    request: Request,
    listing: Listing,
    tenant_id: str,
    *,
    equal: Mapping[str, Any] | None = None,
    one_of: Mapping[str, Sequence[str]] | None = None,
    days: tuple[date, date] | None = None,
) -> JSONResponse:
    """One page of ``listing`` (``limit=``, ``cursor=``) with its ``next_cursor``."""
    limit = parse_limit(request)
    after = _after(request, listing)
    with state_of(request).engine.connect() as conn:
        found = listings.page(
            conn,
            listing,
            tenant_id,
            limit=limit,
            after=after,
            equal=equal,
            one_of=one_of,
            days=days,
        )
    next_cursor = None
    if found.last_key is not None:
        # Keyset values travel as text; PostgreSQL compares them in their column types.
        next_cursor = encode_cursor({"after": [str(jsonable(v)) for v in found.last_key]})
    results = [{k: jsonable(v) for k, v in row.items()} for row in found.rows]
    return JSONResponse({"results": results, "next_cursor": next_cursor})
