"""Tenants for a test: rows in ``app.tenants``, their stored tokens and Dagster partitions."""

from __future__ import annotations

from collections.abc import Mapping

import pytest
from dagster import DagsterInstance

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
