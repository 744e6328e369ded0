"""Where the Google APIs are and how the web analytics assets call them (settings-backed)."""

from __future__ import annotations

from dataclasses import dataclass

from dagster import ConfigurableResource

from adinsights_pipelines.defs.google.client import Ga4Client, GoogleOAuth, SearchConsoleClient
from adinsights_pipelines.errors import ConfigError
from adinsights_pipelines.logs import register_secret
from adinsights_pipelines.outside_apis.transport import OnError
from adinsights_pipelines.settings import Settings, load_settings


@dataclass(frozen=True)
class GoogleApis:
    """Resolved Google settings, and the clients built from them."""

    oauth_token_url: str
    ga4_api_url: str
    search_console_api_url: str
    client_id: str
    client_secret: str
    ga4_lookback_days: int
    search_console_lookback_days: int
    search_console_data_state: str
    ga4_page_size: int
    search_console_row_limit: int
    backoff_max_s: float

    def __repr__(self) -> str:  # keep the client secret out of logs and tracebacks
        return f"GoogleApis(oauth_token_url={self.oauth_token_url!r})"

    @classmethod
    def from_settings(cls, settings: Settings) -> GoogleApis:
        secret = settings.google_client_secret
        if not settings.google_client_id or secret is None:
            raise ConfigError(
                "set ADINSIGHTS_GOOGLE_CLIENT_ID and ADINSIGHTS_GOOGLE_CLIENT_SECRET (the OAuth "
                "client that exchanges Google refresh tokens)"
            )
        register_secret(secret.get_secret_value())
        return cls(
            oauth_token_url=settings.google_oauth_token_url,
            ga4_api_url=settings.ga4_api_url,
            search_console_api_url=settings.search_console_api_url,
            client_id=settings.google_client_id,
            client_secret=secret.get_secret_value(),
            ga4_lookback_days=settings.ga4_lookback_days,
            search_console_lookback_days=settings.search_console_lookback_days,
            search_console_data_state=settings.search_console_data_state,
            ga4_page_size=settings.ga4_page_size,
            search_console_row_limit=settings.search_console_row_limit,
            backoff_max_s=settings.google_backoff_max_s,
        )

    def oauth(self, provider: str, on_error: OnError = None) -> GoogleOAuth:
        return GoogleOAuth(
            self.oauth_token_url,
            self.client_id,
            self.client_secret,
            provider=provider,
            on_error=on_error,
            backoff_max_s=self.backoff_max_s,
        )

    def ga4(self, refresh_token: str, on_error: OnError = None) -> Ga4Client:
        return Ga4Client(
            self.ga4_api_url,
            oauth=self.oauth("ga4", on_error),
            refresh_token=refresh_token,
            on_error=on_error,
            backoff_max_s=self.backoff_max_s,
        )

    def search_console(self, refresh_token: str, on_error: OnError = None) -> SearchConsoleClient:
        return SearchConsoleClient(
            self.search_console_api_url,
            oauth=self.oauth("search_console", on_error),
            refresh_token=refresh_token,
            on_error=on_error,
            backoff_max_s=self.backoff_max_s,
        )


class GoogleApiResource(ConfigurableResource):
    """The GA4 Data API, the Search Console API and Google's OAuth token endpoint.

    Unset fields come from settings when first used; the OAuth client secret only ever comes
    from settings (a resource field would show in the Dagster UI).
    """

    oauth_token_url: str | None = None
    ga4_api_url: str | None = None
    search_console_api_url: str | None = None
    ga4_lookback_days: int | None = None
    search_console_lookback_days: int | None = None

    def apis(self) -> GoogleApis:
        base = GoogleApis.from_settings(load_settings())
        return GoogleApis(
            oauth_token_url=self.oauth_token_url or base.oauth_token_url,
            ga4_api_url=self.ga4_api_url or base.ga4_api_url,
            search_console_api_url=self.search_console_api_url or base.search_console_api_url,
            client_id=base.client_id,
            client_secret=base.client_secret,
            ga4_lookback_days=self.ga4_lookback_days or base.ga4_lookback_days,
            search_console_lookback_days=(
                self.search_console_lookback_days or base.search_console_lookback_days
            ),
            search_console_data_state=base.search_console_data_state,
            ga4_page_size=base.ga4_page_size,
            search_console_row_limit=base.search_console_row_limit,
            backoff_max_s=base.backoff_max_s,
        )
