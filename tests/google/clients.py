"""Google clients for a test, reporting their failures and waits to a :class:`Recorder`."""

from __future__ import annotations

from typing import Any, TypeVar

from adinsights_pipelines.defs.google.client import (
    ApiCallFailure,
    Ga4Client,
    GoogleOAuth,
    SearchConsoleClient,
)

Client = TypeVar("Client", Ga4Client, SearchConsoleClient)


class Recorder:
    """Each failure a client reported (``on_error``) and each wait it asked for (``sleep``,
    recorded instead of slept)."""

    def __init__(self) -> None:
        self.failures: list[ApiCallFailure] = []
        self.sleeps: list[float] = []

    def oauth(self, token_url: str, provider: str = "ga4", **kw: Any) -> GoogleOAuth:
        """A token exchange at ``token_url`` that reports here."""
        return GoogleOAuth(
            token_url,
            "client",
            "client-secret",
            provider=provider,
            on_error=self.failures.append,
            sleep=self.sleeps.append,
            **kw,
        )

    def client(
        self, kind: type[Client], url: str, oauth: GoogleOAuth, refresh_token: str, **kw: Any
    ) -> Client:
        """A GA4 or Search Console client at ``url`` that reports here."""
        return kind(
            url,
            oauth=oauth,
            refresh_token=refresh_token,
            on_error=self.failures.append,
            sleep=self.sleeps.append,
            **kw,
        )
