"""Checking a Google refresh token before it is stored (``adinsights credentials add``).

The token is exchanged once at the OAuth token endpoint: ``invalid_grant`` means it was revoked
or never valid, and the granted scopes must let it read the API it is stored for.
"""

from __future__ import annotations

from adinsights_pipelines.defs.google.client import (
    GA4_SCOPES,
    SEARCH_CONSOLE_SCOPES,
    GoogleApiError,
    InvalidGrantError,
)
from adinsights_pipelines.defs.google.resources import GoogleApis
from adinsights_pipelines.errors import AdinsightsError

#: Any one of these scopes lets a token read the provider's API.
READ_SCOPES = {"ga4": GA4_SCOPES, "search_console": SEARCH_CONSOLE_SCOPES}


class GoogleMissingPermissions(AdinsightsError):
    """The consent behind the token does not cover the API (``missing_required_permissions``)."""

    reason = "missing_required_permissions"

    def __init__(self, needed: str) -> None:
        self.needed = needed
        super().__init__(f"{self.reason}: the token lacks {needed}")


def missing_scope(provider: str, scopes: tuple[str, ...]) -> str | None:
    """The scope to ask for when ``scopes`` cannot read ``provider``'s API, else None."""
    accepted = READ_SCOPES[provider]
    return None if set(scopes) & set(accepted) else accepted[0]


def check_refresh_token(apis: GoogleApis, provider: str, refresh_token: str) -> tuple[str, ...]:
    """Exchange the token once; returns its scopes, or raises an operator-facing error."""
    try:
        access = apis.oauth(provider).refresh(refresh_token)
    except InvalidGrantError as exc:
        raise AdinsightsError(
            f"Google refused the refresh token (invalid_grant: {exc.message})"
        ) from None
    except GoogleApiError as exc:
        raise AdinsightsError(f"the Google token check failed: {exc}") from None
    if needed := missing_scope(provider, access.scopes):
        raise GoogleMissingPermissions(needed)
    return access.scopes
