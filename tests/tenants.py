"""Tenants for a test: rows in ``app.tenants``, their stored tokens, Airbyte connections and
Dagster partitions."""

from __future__ import annotations

from collections.abc import Mapping

import pytest
import sqlalchemy as sa
from dagster import DagsterInstance

from adinsights_pipelines.defs.airbyte.store import add_connection
from adinsights_pipelines.encryption import LocalKeyring
from adinsights_pipelines.tenant_store import add_tenant, set_credential
from adinsights_pipelines.warehouse.database import Database, engine


def onboard(
    db: Database,
    instance: DagsterInstance,
    keyring: LocalKeyring,
    tokens: Mapping[str, Mapping[str, str]],
) -> list[str]:
    """Each tenant of ``tokens`` (id -> platform -> token), named after its id, with its tokens
    stored encrypted and its partition added; the ids in ``tokens``' order."""
    ids = list(tokens)
    with engine(db).begin() as conn:
        for tenant_id, by_platform in tokens.items():
            add_tenant(conn, tenant_id, tenant_id.title())
            for platform, token in by_platform.items():
                set_credential(conn, keyring, tenant_id, platform, token)
    instance.add_dynamic_partitions("tenant", ids)
    return ids


def meta_window(monkeypatch: pytest.MonkeyPatch, days: int) -> None:
    """Meta syncs read ``days`` days, and a first sync no more: it reads like any other."""
    monkeypatch.setenv("ADINSIGHTS_META_INSIGHTS_LOOKBACK_DAYS", str(days))
    monkeypatch.setenv("ADINSIGHTS_META_INITIAL_SYNC_DAYS", str(days))


def add_google_ads_tenant(
    conn: sa.Connection,
    tenant_id: str,
    name: str,
    *,
    connection_id: str,
    customer_id: str,
    interval_minutes: int = 60,
) -> None:
    """A tenant named ``name`` whose Google Ads account ``customer_id`` syncs through the
    Airbyte connection ``connection_id``."""
    add_tenant(conn, tenant_id, name)
    add_connection(
        conn,
        tenant_id=tenant_id,
        provider="google_ads",
        connection_id=connection_id,
        source_account_id=customer_id,
        interval_minutes=interval_minutes,
    )
