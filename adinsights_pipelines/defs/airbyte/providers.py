"""Every Airbyte-managed source the platform syncs: one entry per provider.

A provider is a value of ``app.airbyte_connections.provider`` whose connections land in one raw
table. Each entry becomes a tenant-partitioned asset (``assets.py``); adding a source is one
more entry here (plus the provider in the table's check constraint and the dbt source).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class AirbyteProvider:
    provider: str
    """The ``provider`` of its rows in ``app.airbyte_connections``."""
    asset_name: str
    """The asset key: Airbyte's table name (stream prefix + stream), as dagster-airbyte names it."""
    raw_table: str
    """Where its connections' destination writes."""
    source_account: str
    """What ``source_account_id`` holds for this provider (shown in the CLI and errors)."""
    description: str


AIRBYTE_PROVIDERS: tuple[AirbyteProvider, ...] = (
    AirbyteProvider(
        provider="google_ads",
        asset_name="google_ads_campaign_performance",
        raw_table="raw.google_ads_campaign_performance",
        source_account="Google Ads customer id",
        description=(
            "Google Ads campaign x day x region performance (cost micros, impressions, clicks, "
            "conversions) appended by the tenant's Airbyte connection into "
            "raw.google_ads_campaign_performance; staging dedupes on the natural key."
        ),
    ),
)

PROVIDERS_BY_NAME = {p.provider: p for p in AIRBYTE_PROVIDERS}
PROVIDERS_BY_ASSET = {p.asset_name: p for p in AIRBYTE_PROVIDERS}


def provider_named(name: str) -> AirbyteProvider | None:
    return PROVIDERS_BY_NAME.get(name)
