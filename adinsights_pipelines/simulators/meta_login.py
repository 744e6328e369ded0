"""Facebook Login, as the Meta simulator plays it (the "manually build a login flow" web flow).

What Meta documents, and what this module serves beside the Graph API of :mod:`.meta_graph`:

``GET /{version}/dialog/oauth?client_id=&redirect_uri=&state=&scope=&response_type=code``
    The Login dialog (on ``www.facebook.com`` at Meta; here on the simulator's port): a real HTML
    page with the app's name and the requested permissions as checkboxes the person may untick,
    and Continue / Cancel. ``config_id`` (Facebook Login for Business) stands for a
    configuration's permissions instead of ``scope``; ``auth_type=rerequest`` asks again for
    permissions declined earlier (without it, a declined permission is not offered again, as
    Meta does). Continue redirects to ``redirect_uri?code=...&state=...``; Cancel redirects to
    ``redirect_uri?error=access_denied&error_code=200&error_description=Permissions+error
    &error_reason=user_denied&state=...``.
``GET /{version}/oauth/access_token?client_id=&redirect_uri=&client_secret=&code=``
    The code exchange: ``{"access_token", "token_type": "bearer", "expires_in"}`` (a short-lived
    user token). A code is single-use and valid for 10 minutes, and ``redirect_uri`` must be
    the dialog's exactly (Graph code 100 with subcodes 36007, 36008, 36009 otherwise). The
    long-lived exchange (``grant_type=fb_exchange_token``) is :mod:`.meta_graph`'s.
``GET /me/permissions`` / ``DELETE /me/permissions``
    The person's grants to the app (``{"data": [{"permission", "status"}]}``); DELETE
    de-authorises the app (``{"success": true}``): every token of that person then fails with
    code 190, subcode 458, until they log in again.

The person logged in to "Facebook" is :attr:`LoginState.user` (``client`` unless set, in process
or with ``POST /__sim__/login {"user": "..."}``). Their user token is ``sim_fb_<user>`` (so it
sees that person's accounts and pages, like any ``sim_`` token) and ``debug_token`` reports the
permissions they granted. ``GET /__sim__/login`` shows grants, codes issued and revocations.
"""

from __future__ import annotations

import html
import re
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode, urlsplit

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from adinsights_pipelines.simulators.meta_errors import (
    FULL_SCOPES,
    NARROW_SCOPES,
    GraphError,
    canonical_token,
)

#: What the dialog asks for when only ``config_id`` is given (the configuration's permissions).
CONFIG_PERMISSIONS = (
    "ads_read",
    "business_management",
    "pages_read_engagement",
    "pages_show_list",
)
CODE_TTL_S = 600
SHORT_LIVED_S = 2 * 3600
USER_RE = re.compile(r"^[a-z0-9_]{1,40}$")
PERMISSION_RE = re.compile(r"^[a-z_]{2,60}$")
#: Shown on the dialog next to each permission (Meta's wording, shortened).
DESCRIPTIONS = {
    "ads_read": "Read your ads' performance",
    "ads_management": "Manage your ads",
    "business_management": "Manage your business",
    "pages_read_engagement": "Read content posted on your Pages",
    "pages_show_list": "Show a list of the Pages you manage",
    "read_insights": "Read insights",
    "public_profile": "Your name and profile picture",
}


@dataclass
class _Code:
    user: str
    client_id: str
    redirect_uri: str
    issued: float
    used: bool = False


@dataclass
class LoginState:
    """Who is logged in, what they granted the app, the codes issued and the revocations."""

    user: str = "client"
    app_name: str = "ADinsights"
    #: user -> permission -> "granted" | "declined"
    grants: dict[str, dict[str, str]] = field(default_factory=dict)
    revoked: set[str] = field(default_factory=set)
    revocations: list[str] = field(default_factory=list)
    codes: dict[str, _Code] = field(default_factory=dict)
    #: Each dialog shown: its query (for tests: was ``auth_type=rerequest`` asked?).
    dialogs: list[dict[str, str]] = field(default_factory=list)
    clock: Any = time.time
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def reset(self) -> None:
        with self._lock:
            self.user, self.app_name = "client", "ADinsights"
            self.grants.clear()
            self.revoked.clear()
            self.revocations.clear()
            self.codes.clear()
            self.dialogs.clear()

    # --- who a token belongs to --------------------------------------------------------------
    @staticmethod
    def token_for(user: str) -> str:
        return f"sim_fb_{user}"

    @staticmethod
    def user_of(token: str | None) -> str | None:
        """The Login user behind a token (short- or long-lived), else None."""
        if not token:
            return None
        canonical = canonical_token(token)
        return canonical.removeprefix("sim_fb_") if canonical.startswith("sim_fb_") else None

    def is_revoked(self, token: str | None) -> bool:
        user = self.user_of(token)
        return user is not None and user in self.revoked

    def granted(self, token: str | None) -> list[str] | None:
        """The permissions a Login user granted (``debug_token``'s scopes); None: not a Login
        token (the Graph simulator's name-derived scopes apply)."""
        user = self.user_of(token)
        if user is None or user not in self.grants:
            return None
        return sorted(p for p, s in self.grants[user].items() if s == "granted")

    # --- the dialog --------------------------------------------------------------------------
    def requested(self, params: dict[str, str]) -> list[str]:
        scope = params.get("scope", "")
        asked = [p.strip() for p in re.split(r"[,\s]+", scope) if p.strip()]
        if not asked and params.get("config_id"):
            asked = list(CONFIG_PERMISSIONS)
        return [p for p in dict.fromkeys(asked) if PERMISSION_RE.fullmatch(p)]

    def offered(self, params: dict[str, str]) -> list[str]:
        """Requested permissions the dialog shows: a permission declined earlier only with
        ``auth_type=rerequest``; already granted ones are not asked again."""
        revoked = self.user in self.revoked
        return self._offer(params, {} if revoked else self.grants.get(self.user, {}))

    def _offer(self, params: dict[str, str], grants: dict[str, str]) -> list[str]:
        rerequest = params.get("auth_type") == "rerequest"
        return [
            p
            for p in self.requested(params)
            if grants.get(p) is None or (grants.get(p) == "declined" and rerequest)
        ]

    def approve(self, params: dict[str, str], ticked: set[str]) -> str:
        """The person pressed Continue with ``ticked``: record grants, issue a code."""
        with self._lock:
            user = self.user
            if user in self.revoked:
                self.revoked.discard(user)
                self.grants.pop(user, None)
            grants = self.grants.setdefault(user, {"public_profile": "granted"})
            for permission in self._offer(params, grants):
                grants[permission] = "granted" if permission in ticked else "declined"
            code = "AQ" + secrets.token_urlsafe(24)
            self.codes[code] = _Code(
                user, params.get("client_id", ""), params.get("redirect_uri", ""), self.clock()
            )
            return code

    # --- Graph calls -------------------------------------------------------------------------
    def exchange_code(self, params: dict[str, str]) -> dict[str, Any]:
        """``GET /oauth/access_token`` with ``code``: a short-lived user token."""
        if not params.get("client_id") or not params.get("client_secret"):
            raise GraphError(101, "Error validating client secret.")
        with self._lock:
            code = self.codes.get(params.get("code", ""))
            if code is None:
                raise GraphError(100, "Invalid verification code format.", subcode=36010)
            if code.used:
                raise GraphError(100, "This authorization code has been used.", subcode=36009)
            if self.clock() - code.issued > CODE_TTL_S:
                raise GraphError(100, "This authorization code has expired.", subcode=36007)
            if params.get("redirect_uri") != code.redirect_uri:
                raise GraphError(
                    100,
                    "Error validating verification code. Please make sure your redirect_uri is "
                    "identical to the one you used in the OAuth dialog request",
                    subcode=36008,
                )
            if params.get("client_id") != code.client_id:
                raise GraphError(100, "Error validating application.", subcode=36008)
            code.used = True
        return {
            "access_token": self.token_for(code.user),
            "token_type": "bearer",
            "expires_in": SHORT_LIVED_S,
        }

    def permissions(self, method: str, token: str) -> dict[str, Any]:
        """``GET`` / ``DELETE /me/permissions`` for a (checked) user token."""
        user = self.user_of(token)
        if method == "DELETE":
            if user is not None:
                with self._lock:
                    self.revoked.add(user)
                    self.revocations.append(user)
            return {"success": True}
        if method != "GET":
            raise GraphError(
                3, "(#3) Application does not have the capability to make this API call."
            )
        if user is not None and user in self.grants:
            granted = self.grants[user]
        else:
            scopes = NARROW_SCOPES if "_noscope_" in token else FULL_SCOPES
            granted = dict.fromkeys(scopes, "granted")
        return {"data": [{"permission": p, "status": s} for p, s in sorted(granted.items())]}

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "user": self.user,
                "app_name": self.app_name,
                "grants": {u: dict(g) for u, g in self.grants.items()},
                "revoked": sorted(self.revoked),
                "revocations": list(self.revocations),
                "codes_issued": len(self.codes),
                "dialogs": list(self.dialogs),
            }


_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>
body {{ font-family: Helvetica, Arial, sans-serif; background: #f0f2f5; margin: 0; }}
main {{ max-width: 28rem; margin: 2rem auto; background: #fff; border-radius: 8px;
  padding: 1.5rem; box-shadow: 0 1px 3px rgba(0,0,0,.2); }}
h1 {{ font-size: 1.25rem; color: #1c1e21; }}
.brand {{ color: #1877f2; font-weight: bold; font-size: 1.5rem; }}
fieldset {{ border: 1px solid #dddfe2; border-radius: 6px; }}
label {{ display: block; padding: .4rem 0; font-size: 1rem; }}
input[type=checkbox] {{ width: 1.2rem; height: 1.2rem; vertical-align: middle; }}
button {{ font-size: 1rem; padding: .6rem 1.2rem; border-radius: 6px; border: 0; margin: .3rem; }}
.continue {{ background: #1877f2; color: #fff; }}
.cancel {{ background: #e4e6eb; color: #050505; }}
button:focus, input:focus {{ outline: 3px solid #f7b928; }}
</style></head>
<body><main>{body}</main></body></html>
"""


def _dialog_page(state: LoginState, params: dict[str, str]) -> str:
    app = html.escape(state.app_name)
    offered = state.offered(params)
    hidden = "".join(
        f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">'
        for k, v in params.items()
    )
    boxes = "".join(
        f'<label><input type="checkbox" name="permission" value="{p}" checked> '
        f"<code>{p}</code>: {html.escape(DESCRIPTIONS.get(p, p))}</label>"
        for p in offered
    )
    listing = (
        f"<fieldset><legend>{app} is requesting access to:</legend>{boxes}</fieldset>"
        if offered
        else f"<p>You have already given {app} the access it asks for.</p>"
    )
    body = (
        '<p class="brand" aria-hidden="true">facebook</p>'
        f"<h1>Continue as {html.escape(state.user)}?</h1>"
        f'<form method="post">{hidden}{listing}'
        '<p><button class="continue" type="submit" name="choice" value="continue">Continue'
        f" as {html.escape(state.user)}</button>"
        '<button class="cancel" type="submit" name="choice" value="cancel">Cancel</button></p>'
        "</form>"
    )
    return _PAGE.format(title=f"Log in to {app} with Facebook", body=body)


def _error_page(message: str) -> HTMLResponse:
    body = f"<h1>Sorry, something went wrong.</h1><p>{html.escape(message)}</p>"
    return HTMLResponse(_PAGE.format(title="Facebook", body=body), status_code=400)


def _with_query(uri: str, params: dict[str, str]) -> str:
    return f"{uri}{'&' if urlsplit(uri).query else '?'}{urlencode(params)}"


def routes(login: LoginState) -> list[Route]:
    """The Login dialog and the login control endpoint (served before the Graph routes)."""

    async def dialog(request: Request) -> Response:
        if request.method == "POST":
            form = await request.form()
            params = {k: str(v) for k, v in form.multi_items() if k not in ("permission", "choice")}
            ticked = {str(v) for v in form.getlist("permission")}
            choice = str(form.get("choice", ""))
        else:
            params, ticked, choice = dict(request.query_params), set(), ""
        if not params.get("client_id"):
            return _error_page("The parameter app_id is required")
        redirect_uri = params.get("redirect_uri", "")
        if urlsplit(redirect_uri).scheme not in ("http", "https"):
            return _error_page(
                "URL blocked: this redirect failed because the redirect URI is not whitelisted "
                "in the app's client OAuth settings."
            )
        if params.get("response_type", "code") != "code":
            return _error_page("This simulator serves response_type=code only.")
        back = {"state": params["state"]} if "state" in params else {}
        if request.method == "GET":
            login.dialogs.append(params)
            return HTMLResponse(_dialog_page(login, params))
        if choice == "cancel":
            denied = {
                "error": "access_denied",
                "error_code": "200",
                "error_description": "Permissions error",
                "error_reason": "user_denied",
            }
            return RedirectResponse(_with_query(redirect_uri, {**denied, **back}), 302)
        code = login.approve(params, ticked)
        return RedirectResponse(_with_query(redirect_uri, {"code": code, **back}) + "#_=_", 302)

    async def control(request: Request) -> Response:
        if request.method == "POST":
            payload = await request.json()
            if not isinstance(payload, dict):
                return JSONResponse({"detail": "a JSON object"}, status_code=400)
            user = payload.get("user", login.user)
            if not isinstance(user, str) or not USER_RE.fullmatch(user):
                return JSONResponse({"detail": "user: 1-40 of a-z, 0-9, _"}, status_code=400)
            login.user = user
            login.app_name = str(payload.get("app_name", login.app_name))[:80]
        return JSONResponse(login.snapshot())

    return [
        Route("/{version}/dialog/oauth", dialog, methods=["GET", "POST"]),
        Route("/__sim__/login", control, methods=["GET", "POST"]),
    ]
