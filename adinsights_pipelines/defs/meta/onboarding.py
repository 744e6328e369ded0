"""Checking and exchanging Meta user tokens (onboarding and the hourly token refresh).

The scope gate is the contract's: (``ads_read`` or ``ads_management``) and
``business_management`` and ``pages_read_engagement`` and ``pages_show_list``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from adinsights_pipelines.defs.meta.client import MetaGraphClient
from adinsights_pipelines.errors import AdinsightsError, ConfigError
from adinsights_pipelines.logs import register_secret
from adinsights_pipelines.settings import Settings

ALWAYS_REQUIRED = ("business_management", "pages_read_engagement", "pages_show_list")
ANY_OF = ("ads_read", "ads_management")


class TokenRejected(AdinsightsError):
    """Meta says the token is not valid (expired, revoked, malformed)."""


class MissingPermissions(AdinsightsError):
    """The token lacks scopes the platform needs (``missing_required_permissions``)."""

    reason = "missing_required_permissions"

    def __init__(self, missing: list[str]) -> None:
        self.missing = missing
        super().__init__(f"{self.reason}: the token lacks {', '.join(missing)}")


@dataclass(frozen=True)
class TokenInfo:
    is_valid: bool
    scopes: tuple[str, ...]
    expires_at: datetime | None
    error_code: int | None = None
    error_subcode: int | None = None


def missing_permissions(scopes: tuple[str, ...] | list[str]) -> list[str]:
    granted = set(scopes)
    missing = [] if granted & set(ANY_OF) else [" or ".join(ANY_OF)]
    return missing + [s for s in ALWAYS_REQUIRED if s not in granted]


@dataclass(frozen=True)
class MetaApp:
    """The app credentials that authorise debug_token and token exchange."""

    app_id: str
    app_secret: str
    base_url: str
    api_version: str

    @classmethod
    def from_settings(cls, settings: Settings) -> MetaApp:
        if not settings.meta_app_id or settings.meta_app_secret is None:
            raise ConfigError(
                "set ADINSIGHTS_META_APP_ID and ADINSIGHTS_META_APP_SECRET to check Meta tokens"
            )
        register_secret(settings.meta_app_secret.get_secret_value())
        return cls(
            settings.meta_app_id,
            settings.meta_app_secret.get_secret_value(),
            settings.meta_graph_url,
            settings.meta_api_version,
        )

    def _client(self) -> MetaGraphClient:
        return MetaGraphClient(
            f"{self.app_id}|{self.app_secret}",
            base_url=self.base_url,
            api_version=self.api_version,
        )

    def inspect(self, token: str) -> TokenInfo:
        with self._client() as client:
            body = client.get(
                f"{client.base_url}/{client.api_version}/debug_token", {"input_token": token}
            )
        data = body.get("data") or {}
        expires = data.get("expires_at")
        error = data.get("error") or {}
        return TokenInfo(
            is_valid=bool(data.get("is_valid")),
            scopes=tuple(data.get("scopes") or ()),
            expires_at=datetime.fromtimestamp(expires, UTC) if expires else None,
            error_code=error.get("code"),
            error_subcode=error.get("subcode"),
        )

    def exchange(self, token: str) -> str:
        return self.access_token(
            {
                "grant_type": "fb_exchange_token",
                "client_id": self.app_id,
                "client_secret": self.app_secret,
                "fb_exchange_token": token,
            },
            "Meta did not return a long-lived token",
        )

    def access_token(self, params: dict[str, str], refused: str) -> str:
        """The ``access_token`` that ``GET /oauth/access_token`` answers for ``params`` (a
        token exchange or a Login code exchange); :class:`TokenRejected` (``refused``) when
        the answer holds none."""
        with self._client() as client:
            body = client.get(f"{client.base_url}/{client.api_version}/oauth/access_token", params)
        token = body.get("access_token")
        if not isinstance(token, str) or not token:
            raise TokenRejected(refused)
        return token

    def onboard(self, token: str) -> tuple[str, TokenInfo]:
        """Check the token's scopes, exchange it for a long-lived one, return that and its info."""
        register_secret(token)
        info = self.inspect(token)
        if not info.is_valid:
            raise TokenRejected(
                f"Meta rejected the token (code {info.error_code}, subcode {info.error_subcode})"
            )
        if missing := missing_permissions(info.scopes):
            raise MissingPermissions(missing)
        long_lived = self.exchange(token)
        register_secret(long_lived)
        return long_lived, self.inspect(long_lived)
