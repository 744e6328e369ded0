"""Resources shared by every source's definitions.

Values left unset are read from :mod:`adinsights_pipelines.settings` when first used (never at
import time), so one environment drives the CLI, the API and the Dagster code location alike.
"""

from __future__ import annotations

from dagster import ConfigurableResource
from sqlalchemy.engine import Engine

from adinsights_pipelines.encryption import Keyring, keyring_from_settings
from adinsights_pipelines.errors import ConfigError
from adinsights_pipelines.settings import load_settings
from adinsights_pipelines.warehouse.database import Database, engine


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

    def resolved(self) -> tuple[str, str, int]:
        settings = load_settings()
        return (
            self.base_url or settings.meta_graph_url,
            self.api_version or settings.meta_api_version,
            self.insights_lookback_days or settings.meta_insights_lookback_days,
        )
