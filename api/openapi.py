"""The OpenAPI 3.1 document, generated from the routes (``GET /api/openapi.json``).

Each endpoint documents itself in its docstring: prose first, then a line ``---`` and the
OpenAPI *operation object* in YAML (Starlette's ``SchemaGenerator`` reads it). The operation
names its parameters and its 200 answer (and any error it raises besides the standard ones),
referring to the shared pieces below with ``$ref``:

- ``#/components/schemas/<Model>``: the pydantic models in ``api/schemas.py``;
- ``#/components/parameters/{TenantId,Limit,Cursor,Since,Until,OnboardingLink}``;
- ``#/components/responses/{BadRequest,NotFound,Unavailable,Refused,MetaFailed}``.

What every operation shares is added here, not repeated in docstrings: ``operationId`` (the
endpoint function's name unless given), ``security`` (bearer, or none for the public paths),
and the answers any request can get: 401/403 for authenticated operations, 429 (throttled), 500
and 503 for all, and 400/404 for those that take ``tenant_id`` (``TenantId``). A route without a
YAML docstring is missing from the document, and a test fails.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

from pydantic.json_schema import models_json_schema
from starlette.routing import BaseRoute
from starlette.schemas import SchemaGenerator

from adinsights_pipelines.tenant_store import TENANT_ID_PATTERN
from api.pagination import MAX_CURSOR_LENGTH
from api.problems import PROBLEM_MEDIA_TYPE
from api.schemas import SCHEMA_MODELS

OPENAPI_VERSION = "3.1.0"
REF = "#/components/schemas/{model}"
TENANT_ID = {"$ref": "#/components/parameters/TenantId"}
#: What an operation that takes ``tenant_id`` answers besides (``api/auth.py``): 400 for a
#: value that is not a tenant id (or an operator key that names none), 404 for no such tenant.
TENANT_ANSWERS = {
    "400": {"$ref": "#/components/responses/BadRequest"},
    "404": {"$ref": "#/components/responses/NotFound"},
}


def _problem(description: str, headers: dict[str, Any] | None = None) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": description,
        "content": {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": REF.format(model="Problem")}}},
    }
    if headers:
        response["headers"] = headers
    return response


def _schemas() -> dict[str, Any]:
    _, top = models_json_schema(
        [(model, "serialization") for model in SCHEMA_MODELS], ref_template=REF
    )
    defs: dict[str, Any] = top.get("$defs", {})
    return defs


def components() -> dict[str, Any]:
    return {
        "securitySchemes": {
            "bearer": {
                "type": "http",
                "scheme": "bearer",
                "description": "An API key from `adinsights api-keys create`.",
            }
        },
        "schemas": _schemas(),
        "parameters": {
            "TenantId": {
                "name": "tenant_id",
                "in": "query",
                "required": False,
                "description": "Operator keys must name the tenant; a tenant key may only name "
                "its own.",
                "schema": {"type": "string", "pattern": TENANT_ID_PATTERN.pattern},
            },
            "Limit": {
                "name": "limit",
                "in": "query",
                "required": False,
                "description": "Page size.",
                "schema": {"type": "integer", "minimum": 1, "maximum": 500, "default": 50},
            },
            "Since": {
                "name": "since",
                "in": "query",
                "required": False,
                "description": "First day (default until minus 27 days).",
                "schema": {"type": "string", "format": "date"},
            },
            "Until": {
                "name": "until",
                "in": "query",
                "required": False,
                "description": "Last day (default today); at most 400 days after since.",
                "schema": {"type": "string", "format": "date"},
            },
            "OnboardingLink": {
                "name": "link",
                "in": "query",
                "required": False,
                "description": "A signed onboarding link (instead of an operator key).",
                "schema": {"type": "string", "maxLength": 2000},
            },
            "Cursor": {
                "name": "cursor",
                "in": "query",
                "required": False,
                "description": "The previous page's `next_cursor`, unchanged (opaque).",
                "schema": {"type": "string", "maxLength": MAX_CURSOR_LENGTH},
            },
        },
        "responses": {
            "BadRequest": _problem("A parameter is missing or not valid (`detail` says which)."),
            "Unauthorized": _problem(
                "No API key, or an invalid or revoked one.",
                {"WWW-Authenticate": {"schema": {"type": "string"}, "required": True}},
            ),
            "Forbidden": _problem("This key may not read that tenant."),
            "NotFound": _problem("No such tenant or object."),
            "TooManyRequests": _problem(
                "Throttled: a burst, sustained or public budget is spent.",
                {
                    "Retry-After": {
                        "description": "Seconds to wait before retrying.",
                        "schema": {"type": "integer", "minimum": 1},
                        "required": True,
                    }
                },
            ),
            "Refused": _problem(
                "Not possible in the tenant's state (not connected, nothing chosen...)."
            ),
            "MetaFailed": _problem("Meta refused or failed the call."),
            "InternalError": _problem("An unexpected error (details only in the server log)."),
            "Unavailable": _problem("A dependency (the database) is unavailable; retry later."),
        },
    }


def build_document(
    routes: Sequence[BaseRoute], public_paths: Collection[str], version: str
) -> dict[str, Any]:
    generator = SchemaGenerator(
        {
            "openapi": OPENAPI_VERSION,
            "info": {
                "title": "ADinsights Pipelines API",
                "version": version,
                "description": "JSON API over the warehouse and the Dagster instance; it reads, "
                "except the Airbyte webhook, `cache=false`, the Meta connector lifecycle and "
                "alert runs. Money is a decimal string with its currency beside it. Errors are "
                "application/problem+json; list endpoints page with `limit` and an opaque "
                "`cursor`.",
            },
            "paths": {},
        }
    )
    document = generator.get_schema(routes=list(routes))
    names = {
        (info.path, info.http_method): info.func.__name__
        for info in generator.get_endpoints(list(routes))
    }
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            _complete(operation, public=path in public_paths, name=names[(path, method)])
    document["components"] = components()
    document["security"] = [{"bearer": []}]
    return document


def _complete(operation: dict[str, Any], *, public: bool, name: str) -> None:
    operation.setdefault("operationId", name)
    responses = {str(code): value for code, value in operation.get("responses", {}).items()}
    if TENANT_ID in operation.get("parameters", []):
        responses = dict(sorted({**TENANT_ANSWERS, **responses}.items()))
    if public:
        operation["security"] = []
    else:
        responses.setdefault("401", {"$ref": "#/components/responses/Unauthorized"})
        responses.setdefault("403", {"$ref": "#/components/responses/Forbidden"})
    responses.setdefault("429", {"$ref": "#/components/responses/TooManyRequests"})
    responses.setdefault("500", {"$ref": "#/components/responses/InternalError"})
    responses.setdefault("503", {"$ref": "#/components/responses/Unavailable"})
    operation["responses"] = responses
