"""What the Graph API simulator and its Facebook Login share: Graph's error envelope, the
token a long-lived token stands for, and the scopes a simulated user grants."""

from __future__ import annotations

import secrets
from typing import Any

from starlette.responses import JSONResponse

_DEFAULT_MESSAGES = {
    1: "An unknown error occurred",
    2: "An unexpected error has occurred. Please retry your request later.",
    3: "(#3) Application does not have the capability to make this API call.",
    4: "(#4) Application request limit reached",
    10: "(#10) Application does not have permission for this action",
    17: "(#17) User request limit reached",
    32: "(#32) Page request limit reached",
    100: "Invalid parameter",
    190: "Error validating access token",
    200: "(#200) Permissions error",
    341: "(#341) Application limit reached",
    613: "(#613) Calls to this api have exceeded the rate limit.",
    3018: "(#3018) The start date of the time range cannot be beyond 37 months from the "
    "current date",
}


class GraphError(Exception):
    """A Graph API error, rendered with the Graph error envelope."""

    def __init__(
        self,
        code: int,
        message: str | None = None,
        *,
        http_status: int = 400,
        subcode: int | None = None,
        error_type: str = "OAuthException",
        is_transient: bool = False,
        user_msg: str | None = None,
    ) -> None:
        self.code = code
        self.message = message or _DEFAULT_MESSAGES.get(code, f"(#{code}) Simulated error")
        super().__init__(self.message)
        self.http_status = http_status
        self.subcode = subcode
        self.error_type = error_type
        self.is_transient = is_transient
        self.user_msg = user_msg

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {
            "message": self.message,
            "type": self.error_type,
            "code": self.code,
        }
        if self.subcode is not None:
            error["error_subcode"] = self.subcode
        error["is_transient"] = self.is_transient
        if self.user_msg:
            error["error_user_msg"] = self.user_msg
        error["fbtrace_id"] = "A" + secrets.token_urlsafe(16)
        return {"error": error}

    def headers(self) -> dict[str, str]:
        if self.code == 190:
            return {"WWW-Authenticate": 'OAuth "Facebook Platform" "invalid_token"'}
        return {}

    def response(self) -> JSONResponse:
        return JSONResponse(self.body(), status_code=self.http_status, headers=self.headers())


def canonical_token(token: str) -> str:
    """A long-lived token sees the same data as the short-lived one it was exchanged from."""
    return "sim_" + token.removeprefix("sim_ll_") if token.startswith("sim_ll_") else token


FULL_SCOPES = (
    "ads_read",
    "ads_management",
    "business_management",
    "pages_read_engagement",
    "pages_show_list",
    "read_insights",
    "public_profile",
)
NARROW_SCOPES = ("ads_read", "pages_show_list", "public_profile")
