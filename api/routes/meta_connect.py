"""The Meta connector lifecycle (writes) under ``/api/integrations/meta/`` and the onboarding
pages under ``/onboarding/meta/``; the logic is :mod:`adinsights_pipelines.defs.meta.connect`.

Who may call: an operator API key (naming ``tenant_id``), or a signed onboarding link for one
tenant (``link`` as a query parameter, a form field or the ``X-Onboarding-Link`` header). A
tenant API key is read-only and refused here. A link acts for its own tenant only: naming
another ``tenant_id`` is refused with 403. The OAuth callback is reached by the browser coming
back from Facebook: its signed, single-use ``state`` says which tenant it is for.

Requests from the pages (form posts, ``Accept: text/html``) answer pages and redirects; JSON
clients get JSON and ``application/problem+json``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlencode

import orjson
import sqlalchemy as sa
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route
from starlette.templating import Jinja2Templates

from adinsights_pipelines.defs.meta import connect
from adinsights_pipelines.defs.meta.connect import LoginConfig, MissingSetting, Refused, Signer
from adinsights_pipelines.defs.meta.onboarding import ALWAYS_REQUIRED, ANY_OF
from adinsights_pipelines.tenant_store import TENANT_ID_PATTERN
from api.auth import authenticate
from api.observability import request_context
from api.problems import Problem
from api.routes.social import platform_statuses
from api.state import AppState, state_of

T = TypeVar("T")
Endpoint = TypeVar("Endpoint", bound=Callable[..., Any])

templates = Jinja2Templates(directory=str(Path(__file__).resolve().parent.parent / "templates"))
PAGE_HEADERS = {
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
}
MAX_SELECTION = 200
OBJECT_ID = re.compile(r"(act_)?[0-9]{1,30}")
REQUIRED_TEXT = [" or ".join(ANY_OF), *ALWAYS_REQUIRED]


@dataclass(frozen=True)
class Caller:
    tenant_id: str
    actor: str
    via_link: bool


_TENANT_ID = "      - $ref: '#/components/parameters/TenantId'\n"
_ONBOARDING_LINK = "      - $ref: '#/components/parameters/OnboardingLink'\n"
_OPERATION = """
    ---
    summary: {summary}
    tags: [integrations]
    parameters:
{parameters}{request_body}    responses:
      200:
        description: {answer}
        content:
          application/json:
            schema: {{$ref: '#/components/schemas/{schema}'}}
      400: {{$ref: '#/components/responses/BadRequest'}}
      404: {{$ref: '#/components/responses/NotFound'}}
      409: {{$ref: '#/components/responses/Refused'}}
{meta_failed}"""
_META_FAILED = "      502: {$ref: '#/components/responses/MetaFailed'}\n"


def lifecycle_operation(
    *,
    summary: str,
    answer: str,
    schema: str,
    parameters: str = _TENANT_ID,
    request_body: str = "",
    calls_meta: bool = False,
) -> Callable[[Endpoint], Endpoint]:
    """Completes a lifecycle endpoint's docstring with its OpenAPI operation (api/openapi.py):
    ``parameters`` and ``request_body`` (YAML, indented as in a docstring), the 200 answer
    (``answer`` describes the ``schema``), and what every lifecycle step can answer: 400, 404
    and 409 (refused in the tenant's state), and 502 when it ``calls_meta``."""

    def document(endpoint: Endpoint) -> Endpoint:
        endpoint.__doc__ = (endpoint.__doc__ or summary).rstrip() + _OPERATION.format(
            summary=summary,
            parameters=parameters,
            request_body=request_body,
            answer=answer,
            schema=schema,
            meta_failed=_META_FAILED if calls_meta else "",
        )
        return endpoint

    return document


def _config(state: AppState) -> LoginConfig:
    try:
        return LoginConfig.from_settings(state.settings)
    except MissingSetting as exc:
        raise Problem(503, str(exc), "unavailable") from None


def _signer(state: AppState) -> Signer:
    return Signer(state.keyring)


def _refused(exc: Refused) -> Problem:
    headers = {"Retry-After": "60"} if exc.status == 429 else None
    kind = "tenant-not-found" if exc.reason == "tenant_not_found" else None
    return Problem(exc.status, f"{exc.reason}: {exc}", kind, headers)


async def _call(use_case: Callable[..., T], *args: Any) -> T:
    """A lifecycle use case off the event loop; its refusal answered as a problem."""
    try:
        return await run_in_threadpool(use_case, *args)
    except Refused as exc:
        raise _refused(exc) from None


def wants_html(request: Request) -> bool:
    return "text/html" in request.headers.get("accept", "")


async def _form_or_json(request: Request) -> tuple[dict[str, Any], FormData | None]:
    """The body as a dict (JSON object or form), plus the form when it was one."""
    kind = request.headers.get("content-type", "")
    if kind.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        form = await request.form()
        return {k: form.get(k) for k in form}, form
    body = await request.body()
    if not body:
        return {}, None
    try:
        payload = orjson.loads(body)
    except ValueError:
        raise Problem(400, "the body is not valid JSON") from None
    if not isinstance(payload, dict):
        raise Problem(400, "the body must be a JSON object")
    return payload, None


def _caller(request: Request, body: dict[str, Any] | None = None) -> Caller:
    """Operator key + tenant_id, or an onboarding link (its tenant only)."""
    state = state_of(request)
    body = body or {}
    named = request.query_params.get("tenant_id") or body.get("tenant_id")
    if named is not None and (not isinstance(named, str) or not TENANT_ID_PATTERN.fullmatch(named)):
        raise Problem(400, "tenant_id is not a valid tenant id")
    if request.headers.get("authorization"):
        principal = authenticate(request)
        if not principal.is_operator:
            raise Problem(403, "tenant API keys are read-only: use an operator key or a link")
        if not named:
            raise Problem(400, "operator keys must pass tenant_id")
        return Caller(named, f"api_key:{principal.key_prefix}", via_link=False)
    link = (
        request.query_params.get("link")
        or body.get("link")
        or request.headers.get("x-onboarding-link")
    )
    if not link or not isinstance(link, str):
        raise Problem(
            401, "an operator API key (Authorization: Bearer) or an onboarding link is needed"
        )
    try:
        tenant_id = _signer(state).link_tenant(link, state.settings.onboarding_link_hours * 3600)
    except Refused as exc:
        raise Problem(401, f"{exc.reason}: {exc}") from None
    if named and named != tenant_id:
        raise Problem(403, "this onboarding link is for another tenant")
    context = request_context(request.scope)
    if context is not None:
        context.tenant_id = tenant_id
    return Caller(tenant_id, "onboarding_link", via_link=True)


def _status(state: AppState, tenant_id: str) -> dict[str, Any]:
    with state.engine.connect() as conn:
        for platform in platform_statuses(conn, tenant_id, datetime.now(UTC)):
            if platform["platform"] == "meta":
                return platform
    raise AssertionError("meta is one of the platforms")  # pragma: no cover


def _setup_body(state: AppState, tenant_id: str) -> dict[str, Any]:
    body = connect.setup(state.engine, state.keyring, state.settings, tenant_id)
    status = _status(state, tenant_id)
    return {
        **body,
        "status": status["status"],
        "reason": status["reason"],
        "token_status": status["token_status"],
        "last_synced_at": status["last_synced_at"],
        "sync": connect.sync_state(state.engine, tenant_id),
    }


# --- JSON endpoints ----------------------------------------------------------------------------


@lifecycle_operation(
    summary="Meta connection state and what can be selected",
    answer="The status as /api/integrations/social/status/ reports it for meta.",
    schema="MetaSetup",
    parameters=_TENANT_ID + _ONBOARDING_LINK,
    calls_meta=True,
)
def setup(request: Request) -> Response:
    """The tenant's Meta connection, the ad accounts and Pages its token sees, the selection."""
    caller = _caller(request)
    state = state_of(request)
    try:
        body = _setup_body(state, caller.tenant_id)
    except Refused as exc:
        raise _refused(exc) from None
    return JSONResponse(body)


@lifecycle_operation(
    summary="Start Facebook Login for a tenant",
    answer="The dialog URL to send the person to.",
    schema="MetaOAuthStart",
    parameters=_TENANT_ID + _ONBOARDING_LINK,
)
async def oauth_start(request: Request) -> Response:
    """The Facebook Login dialog URL: signed single-use state (10 minutes), ``auth_type=rerequest``
    after a grant that lacked permissions, ``config_id`` when a configuration is required.
    A form post (the onboarding page) is redirected to the dialog.
    """
    body, form = await _form_or_json(request)
    caller = _caller(request, body)
    state = state_of(request)
    config = _config(state)
    answer = await _call(
        connect.start_login, state.engine, config, _signer(state), caller.tenant_id, caller.actor
    )
    if form is not None:
        return RedirectResponse(answer["authorize_url"], status_code=303, headers=PAGE_HEADERS)
    return JSONResponse(answer)


@lifecycle_operation(
    summary="Facebook Login callback",
    answer="connected, or missing_required_permissions (with the missing ones).",
    schema="MetaOAuthCallback",
    parameters="""      - name: state
        in: query
        required: false
        schema: {type: string, maxLength: 2000}
      - {name: code, in: query, required: false, schema: {type: string, maxLength: 2000}}
      - {name: error, in: query, required: false, schema: {type: string, maxLength: 200}}
      - name: error_reason
        in: query
        required: false
        schema: {type: string, maxLength: 200}
""",
    calls_meta=True,
)
def oauth_callback(request: Request) -> Response:
    """Where Facebook Login returns: checks and consumes ``state``, exchanges the code for a
    long-lived token, applies the scope gate, stores the token encrypted (audited). Browsers get
    the result page; JSON clients (no ``text/html`` in Accept) get JSON.
    """
    state = state_of(request)
    html = wants_html(request)
    params = request.query_params
    signer = _signer(state)
    raw_state = params.get("state")
    try:
        if not raw_state:
            raise Refused(400, "state_missing", "the sign-in state is missing")
        tenant_id = connect.consume_state(state.engine, signer, raw_state)
    except Refused as exc:
        if html:
            return _page(request, "error.html", {"reason": str(exc), "code": exc.reason}, 400)
        raise _refused(exc) from None
    link = signer.link_token(tenant_id)
    if params.get("error"):
        reason = params.get("error")
        if not html:
            raise Problem(400, f"{reason}: the person cancelled the Facebook sign-in")
        context = {"link": link, "error": reason, "error_reason": params.get("error_reason")}
        return _page(request, "denied.html", context, 200)
    code = params.get("code")
    if not code:
        if html:
            return _page(request, "error.html", {"reason": "Facebook returned no code"}, 400)
        raise Problem(400, "code is missing")
    try:
        config = _config(state)  # checked once the state is known to be ours
    except Problem as exc:
        if html:
            return _page(request, "error.html", {"reason": exc.detail}, 503)
        raise
    try:
        outcome = connect.complete_login(
            state.engine, state.keyring, config, tenant_id, code, "facebook_login"
        )
    except Refused as exc:
        if html:
            return _page(request, "error.html", {"reason": str(exc), "link": link}, exc.status)
        raise _refused(exc) from None
    if not html:
        return JSONResponse(outcome.as_json())
    return _page(
        request,
        "callback.html",
        {"outcome": outcome, "link": link, "required": REQUIRED_TEXT},
        200,
    )


def _ids(body: dict[str, Any], form: FormData | None, name: str) -> list[str]:
    values: Any = form.getlist(name) if form is not None else body.get(name, [])
    if values is None:
        values = []
    if not isinstance(values, list) or len(values) > MAX_SELECTION:
        raise Problem(400, f"{name} must be a list of at most {MAX_SELECTION} ids")
    out = []
    for value in values:
        if not isinstance(value, str) or not OBJECT_ID.fullmatch(value):
            raise Problem(400, f"{name}: ids are digits (ad accounts may start with act_)")
        out.append(value)
    return out


@lifecycle_operation(
    summary="Provision the tenant's Meta selection and start the first sync",
    answer="The selection stored and the runs of the first sync.",
    schema="MetaProvision",
    request_body="""    requestBody:
      required: true
      content:
        application/json:
          schema: {$ref: '#/components/schemas/MetaProvisionRequest'}
""",
    calls_meta=True,
)
async def provision(request: Request) -> Response:
    """Store the chosen ad accounts and Pages (each must be visible to the tenant's token),
    ensure the tenant's partition, start the first sync; answers the run ids (audited).
    """
    body, form = await _form_or_json(request)
    caller = _caller(request, body)
    accounts, pages = _ids(body, form, "ad_accounts"), _ids(body, form, "pages")
    state = state_of(request)
    try:
        answer = await run_in_threadpool(
            connect.provision,
            state.engine,
            state.keyring,
            state.settings,
            caller.tenant_id,
            accounts,
            pages,
            caller.actor,
        )
    except Refused as exc:
        if form is not None:
            link = str(body.get("link") or "")
            return _page(request, "error.html", {"reason": str(exc), "link": link}, exc.status)
        raise _refused(exc) from None
    if form is not None:
        link = str(body.get("link") or _signer(state).link_token(caller.tenant_id))
        return RedirectResponse(
            f"/onboarding/meta/done/?{urlencode({'link': link})}",
            status_code=303,
            headers=PAGE_HEADERS,
        )
    return JSONResponse(answer)


@lifecycle_operation(
    summary="Sync a tenant's Meta data now",
    answer="The runs of the sync started, or of the one still running.",
    schema="MetaSync",
)
async def sync(request: Request) -> Response:
    """Sync the tenant's Meta data now (audited). While a sync runs, the running one is
    answered (``already_running``); one that finished moments ago answers 429.
    """
    body, _ = await _form_or_json(request)
    caller = _caller(request, body)
    state = state_of(request)
    answer = await _call(
        connect.start_sync, state.engine, state.settings, caller.tenant_id, caller.actor
    )
    return JSONResponse({"tenant_id": caller.tenant_id, **answer})


@lifecycle_operation(
    summary="Disconnect a tenant's Meta account",
    answer="Disconnected.",
    schema="MetaLogout",
)
async def logout(request: Request) -> Response:
    """Revoke the grant at Meta (``DELETE /me/permissions``), delete the stored token, keep the
    synced data; the status goes back to ``not_connected`` (audited).
    """
    body, _ = await _form_or_json(request)
    caller = _caller(request, body)
    state = state_of(request)
    answer = await _call(
        connect.logout, state.engine, state.keyring, state.settings, caller.tenant_id, caller.actor
    )
    return JSONResponse(answer)


# --- pages -------------------------------------------------------------------------------------


def _page(request: Request, name: str, context: dict[str, Any], status: int) -> Response:
    return templates.TemplateResponse(
        request, name, context, status_code=status, headers=PAGE_HEADERS
    )


def _page_caller(request: Request) -> Caller | Response:
    try:
        return _caller(request)
    except Problem as exc:
        return _page(request, "error.html", {"reason": exc.detail}, exc.status_code)


def landing_page(request: Request) -> Response:
    """``/onboarding/meta/?link=``: "Connect your Facebook ads"."""
    caller = _page_caller(request)
    if isinstance(caller, Response):
        return caller
    state = state_of(request)
    status = _status(state, caller.tenant_id)
    with state.engine.connect() as conn:
        name = conn.execute(
            sa.text("select name from app.tenants where id = :t"), {"t": caller.tenant_id}
        ).scalar()
    context = {
        "link": request.query_params.get("link", ""),
        "tenant_name": name or caller.tenant_id,
        "status": status,
        "required": REQUIRED_TEXT,
    }
    return _page(request, "landing.html", context, 200)


def picker_page(request: Request) -> Response:
    """``/onboarding/meta/accounts/?link=``: choose the ad accounts and Pages."""
    caller = _page_caller(request)
    if isinstance(caller, Response):
        return caller
    state = state_of(request)
    link = request.query_params.get("link", "")
    try:
        body = connect.setup(state.engine, state.keyring, state.settings, caller.tenant_id)
    except Refused as exc:
        return _page(request, "error.html", {"reason": str(exc), "link": link}, exc.status)
    if not body["connected"]:
        context = {"reason": "Connect Facebook first.", "link": link}
        return _page(request, "error.html", context, 409)
    # Nothing chosen yet: every ad account starts ticked (the usual wish), Pages too.
    fresh = not body["selected"]["ad_accounts"]
    return _page(request, "picker.html", {"setup": body, "link": link, "fresh": fresh}, 200)


def done_page(request: Request) -> Response:
    """``/onboarding/meta/done/?link=``: the selection and the first sync's progress."""
    caller = _page_caller(request)
    if isinstance(caller, Response):
        return caller
    state = state_of(request)
    sync_state = connect.sync_state(state.engine, caller.tenant_id)
    with state.engine.connect() as conn:
        chosen = connect.selection(conn, caller.tenant_id)
    status = _status(state, caller.tenant_id)
    context = {
        "link": request.query_params.get("link", ""),
        "sync": sync_state,
        "selected": chosen,
        "status": status,
    }
    return _page(request, "done.html", context, 200)


#: The lifecycle's own route group (api/app.py appends it): JSON endpoints, then the pages.
ROUTES = [
    Route("/api/integrations/meta/setup/", setup, methods=["GET"]),
    Route("/api/integrations/meta/oauth/start/", oauth_start, methods=["POST"]),
    Route("/api/integrations/meta/oauth/callback/", oauth_callback, methods=["GET"]),
    Route("/api/integrations/meta/provision/", provision, methods=["POST"]),
    Route("/api/integrations/meta/sync/", sync, methods=["POST"]),
    Route("/api/integrations/meta/logout/", logout, methods=["POST"]),
    Route("/onboarding/meta/", landing_page, methods=["GET"], include_in_schema=False),
    Route("/onboarding/meta/accounts/", picker_page, methods=["GET"], include_in_schema=False),
    Route("/onboarding/meta/done/", done_page, methods=["GET"], include_in_schema=False),
]
#: No API key: Facebook's redirect carries a signed state, the pages a signed link.
PUBLIC_PATHS = frozenset(
    {
        "/api/integrations/meta/oauth/callback/",
        "/onboarding/meta/",
        "/onboarding/meta/accounts/",
        "/onboarding/meta/done/",
    }
)
