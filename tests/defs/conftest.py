"""Fixtures of the Dagster definitions' tests."""

from __future__ import annotations

from collections.abc import Callable, Mapping

import pytest
from dagster import DagsterInstance

from adinsights_pipelines.encryption import LocalKeyring
from adinsights_pipelines.warehouse.database import Database
from tests.tenants import meta_window, onboard

#: ``meta_tenants(days, tokens)``: see the fixture.
MetaTenants = Callable[[int, Mapping[str, str]], list[str]]


@pytest.fixture
def meta_tenants(
    instance: DagsterInstance,
    product_env: Database,
    keyring: LocalKeyring,
    monkeypatch: pytest.MonkeyPatch,
) -> MetaTenants:
    """Onboards tenants with a Meta token each (tenant id -> token), Meta syncs reading ``days``
    days (a first sync no more); returns the ids in ``tokens``' order."""

    def onboard_meta(days: int, tokens: Mapping[str, str]) -> list[str]:
        meta_window(monkeypatch, days)
        by_platform = {tenant_id: {"meta": token} for tenant_id, token in tokens.items()}
        return onboard(product_env, instance, keyring, by_platform)

    return onboard_meta
