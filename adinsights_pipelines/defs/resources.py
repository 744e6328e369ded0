"""Resources shared by every source's definitions.

Values left unset are read from :mod:`adinsights_pipelines.settings` when first used (never at
import time), so one environment drives the CLI, the API and the Dagster code location alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

from dagster import ConfigurableResource
from sqlalchemy.engine import Engine

from adinsights_pipelines.encryption import Keyring, keyring_from_settings
from adinsights_pipelines.errors import ConfigError
from adinsights_pipelines.settings import load_settings
from adinsights_pipelines.warehouse.database import Database, engine

if TYPE_CHECKING:
    from adinsights_pipelines.defs.alerts.delivery import Channel


class WarehouseResource(ConfigurableResource):
    """The warehouse PostgreSQL database."""

    database_url: str | None = None

    def database(self) -> Database:
        url = self.database_url or load_settings().database_url
        if not url:
            raise ConfigError(
                "ADINSIGHTS_DATABASE_URL is not set for the Dagster code location; start Dagster "
                "with `adinsights demo` / `adinsights dagster`, which resolve the embedded database"
            )
        return Database.from_url(url)

    def engine(self) -> Engine:
        return engine(self.database())


class KeyringResource(ConfigurableResource):
    """The master key that unwraps tenants' data keys (credentials are stored encrypted)."""

    def keyring(self) -> Keyring:
        return keyring_from_settings(load_settings())


class MetaGraphResource(ConfigurableResource):
    """Where the Meta Graph API is (the real one, or the loopback simulator)."""

    base_url: str | None = None
    api_version: str | None = None
    insights_lookback_days: int | None = None

    def sync_settings(self) -> MetaSyncSettings:
        settings = load_settings()
        return MetaSyncSettings(
            base_url=self.base_url or settings.meta_graph_url,
            api_version=self.api_version or settings.meta_api_version,
            lookback_days=self.insights_lookback_days or settings.meta_insights_lookback_days,
            initial_sync_days=settings.meta_initial_sync_days,
            chunk_days=settings.meta_backfill_chunk_days,
            report_concurrency=settings.meta_report_concurrency,
            report_poll_seconds=settings.meta_report_poll_seconds,
            report_timeout_seconds=settings.meta_report_timeout_seconds,
            request_timeout_seconds=settings.meta_request_timeout_seconds,
            retry_base_seconds=settings.meta_retry_base_seconds,
            conversion_events=settings.meta_conversion_events,
        )


@dataclass(frozen=True)
class MetaSyncSettings:
    """Everything a Meta sync needs to know besides the tenant's token."""

    base_url: str
    api_version: str
    lookback_days: int
    initial_sync_days: int
    chunk_days: int
    report_concurrency: int
    report_poll_seconds: float
    report_timeout_seconds: float
    request_timeout_seconds: float
    retry_base_seconds: float
    #: The global conversion definition (a tenant's own, when set, wins).
    conversion_events: str = "purchase,lead,complete_registration"


class AlertChannelsResource(ConfigurableResource):
    """Where alerts go (Slack webhook, SMTP) and which API endpoints the error-rate alert reads.

    Everything comes from the ``ADINSIGHTS_ALERT_*`` settings; the webhook URL and the SMTP
    password are secrets and are only handed to the channels.
    """

    def channels(self) -> list[Channel]:
        from adinsights_pipelines.defs.alerts.delivery import (
            email_from_settings,
            slack_from_settings,
        )

        settings = load_settings()
        configured = (slack_from_settings(settings), email_from_settings(settings))
        return [channel for channel in configured if channel is not None]

    def metrics_urls(self) -> list[str]:
        return load_settings().alert_metrics_url_list

    def ui_url(self) -> str | None:
        return load_settings().dagster_ui_url

    def webhook_silence_window(self) -> timedelta:
        return timedelta(minutes=load_settings().alert_webhook_silence_minutes)
