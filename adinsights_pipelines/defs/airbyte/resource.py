"""The Airbyte server as a Dagster resource, through dagster-airbyte's own client."""

from __future__ import annotations

import warnings
from dataclasses import dataclass

from dagster import BetaWarning, ConfigurableResource
from dagster_airbyte import AirbyteWorkspace
from dagster_airbyte.resources import AirbyteClient

from adinsights_pipelines.errors import ConfigError
from adinsights_pipelines.logs import register_secret
from adinsights_pipelines.settings import load_settings

REST_API_PATH = "/api/public/v1"
CONFIGURATION_API_PATH = "/api/v1"


@dataclass(frozen=True)
class AirbyteTarget:
    """Resolved: where Airbyte is, how to authenticate, how patiently to wait."""

    url: str
    workspace_id: str
    client_id: str | None
    client_secret: str | None
    poll_interval_seconds: float
    sync_timeout_seconds: float
    request_max_retries: int
    request_retry_delay_seconds: float

    @property
    def rest_api_base_url(self) -> str:
        return self.url + REST_API_PATH

    @property
    def configuration_api_base_url(self) -> str:
        return self.url + CONFIGURATION_API_PATH

    def __repr__(self) -> str:  # the secret stays out of logs and tracebacks
        return f"AirbyteTarget(url={self.url!r}, workspace_id={self.workspace_id!r})"


class AirbyteServerResource(ConfigurableResource):
    """A self-hosted Airbyte (or the simulator). Unset fields come from ``ADINSIGHTS_AIRBYTE_*``.

    The HTTP client is dagster-airbyte's ``AirbyteWorkspace`` client with OSS URLs
    (``<url>/api/public/v1`` and ``<url>/api/v1``), with its retries on failed requests.
    """

    url: str | None = None
    workspace_id: str | None = None
    client_id: str | None = None
    client_secret: str | None = None
    poll_interval_seconds: float | None = None
    sync_timeout_seconds: float | None = None
    request_max_retries: int | None = None
    request_retry_delay_seconds: float | None = None

    def target(self) -> AirbyteTarget:
        settings = load_settings()
        workspace_id = self.workspace_id or settings.airbyte_workspace_id
        if not workspace_id:
            raise ConfigError(
                "ADINSIGHTS_AIRBYTE_WORKSPACE_ID is not set: the Airbyte workspace holding the "
                "tenants' connections"
            )
        secret = self.client_secret or (
            settings.airbyte_client_secret.get_secret_value()
            if settings.airbyte_client_secret
            else None
        )
        client_id = self.client_id or settings.airbyte_client_id or None
        if bool(client_id) != bool(secret):
            raise ConfigError(
                "set both ADINSIGHTS_AIRBYTE_CLIENT_ID and ADINSIGHTS_AIRBYTE_CLIENT_SECRET, "
                "or neither (an OSS install without auth)"
            )
        register_secret(secret)
        return AirbyteTarget(
            url=(self.url or settings.airbyte_url).rstrip("/"),
            workspace_id=workspace_id,
            client_id=client_id,
            client_secret=secret or None,
            poll_interval_seconds=self.poll_interval_seconds
            or settings.airbyte_poll_interval_seconds,
            sync_timeout_seconds=self.sync_timeout_seconds or settings.airbyte_sync_timeout_seconds,
            request_max_retries=settings.airbyte_request_max_retries
            if self.request_max_retries is None
            else self.request_max_retries,
            request_retry_delay_seconds=settings.airbyte_request_retry_delay_seconds
            if self.request_retry_delay_seconds is None
            else self.request_retry_delay_seconds,
        )

    def workspace(self) -> AirbyteWorkspace:
        target = self.target()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", BetaWarning)
            return AirbyteWorkspace(
                rest_api_base_url=target.rest_api_base_url,
                configuration_api_base_url=target.configuration_api_base_url,
                workspace_id=target.workspace_id,
                client_id=target.client_id,
                client_secret=target.client_secret,
                request_max_retries=target.request_max_retries,
                request_retry_delay=target.request_retry_delay_seconds,
                poll_interval=target.poll_interval_seconds,
                poll_timeout=target.sync_timeout_seconds,
            )

    def client(self) -> AirbyteClient:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", BetaWarning)
            return self.workspace().get_client()
