"""Registering and deactivating Airbyte connections (services/airbyte_connections.py) against a
real PostgreSQL."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from adinsights_pipelines.defs.airbyte.store import ConnectionNotFound
from adinsights_pipelines.errors import AdinsightsError
from adinsights_pipelines.services.airbyte_connections import (
    add_airbyte_connection,
    deactivate_airbyte_connection,
)
from adinsights_pipelines.services.tenant_onboarding import add_tenant
from adinsights_pipelines.warehouse.database import Database, engine
from tests.services.audit_log import audit_rows
from tests.sql import query

CONNECTION = "5F0D3C4A-1B2C-4D5E-8F90-A1B2C3D4E5F6"
CANONICAL = CONNECTION.lower()


@pytest.fixture
def tenants(database: Database) -> tuple[str, str]:
    with engine(database).begin() as conn:
        add_tenant(conn, "island-grill", "Island Grill", actor="cli")
        add_tenant(conn, "blue-mountain", "Blue Mountain", actor="cli")
    return "island-grill", "blue-mountain"


def connection_rows(db: Database) -> list[tuple[object, ...]]:
    """(connection_id, tenant_id, provider, source_account_id, interval, is_active) each."""
    sql = "select connection_id, tenant_id, provider, source_account_id, sync_interval_minutes, "
    return [tuple(row) for row in query(db, sql + "is_active from app.airbyte_connections")]


def add(conn: sa.Connection, tenant_id: str, interval_minutes: int = 60) -> tuple[str, bool]:
    return add_airbyte_connection(
        conn,
        tenant_id,
        "google_ads",
        CONNECTION,
        "123-456-7890",
        interval_minutes=interval_minutes,
        actor="cli",
    )


def test_connection_is_registered_canonical_and_audited(
    database: Database, tenants: tuple[str, str]
) -> None:
    with engine(database).begin() as conn:
        registered = add(conn, "island-grill")
    assert registered == (CANONICAL, True)
    assert connection_rows(database) == [
        (CANONICAL, "island-grill", "google_ads", "1234567890", 60, True)
    ]
    assert audit_rows(database)[-1] == (
        "island-grill",
        "cli",
        "airbyte_connection_added",
        "airbyte_connection",
        CANONICAL,
        {"provider": "google_ads", "sync_interval_minutes": 60},
    )


def test_registering_again_updates_the_interval(
    database: Database, tenants: tuple[str, str]
) -> None:
    with engine(database).begin() as conn:
        add(conn, "island-grill")
    with engine(database).begin() as conn:
        registered = add(conn, "island-grill", interval_minutes=15)
    assert registered == (CANONICAL, False)
    assert connection_rows(database) == [
        (CANONICAL, "island-grill", "google_ads", "1234567890", 15, True)
    ]
    assert audit_rows(database)[-1][2:] == (
        "airbyte_connection_updated",
        "airbyte_connection",
        CANONICAL,
        {"provider": "google_ads", "sync_interval_minutes": 15},
    )


def test_another_tenants_connection_is_refused_unaudited(
    database: Database, tenants: tuple[str, str]
) -> None:
    with engine(database).begin() as conn:
        add(conn, "island-grill")
    refused = pytest.raises(AdinsightsError, match="belongs to tenant 'island-grill'")
    with refused, engine(database).begin() as conn:
        add(conn, "blue-mountain")
    assert connection_rows(database) == [
        (CANONICAL, "island-grill", "google_ads", "1234567890", 60, True)
    ]
    assert [row[2] for row in audit_rows(database)][-1] == "airbyte_connection_added"


def test_deactivation_keeps_the_row_and_is_audited(
    database: Database, tenants: tuple[str, str]
) -> None:
    with engine(database).begin() as conn:
        add(conn, "island-grill")
    with engine(database).begin() as conn:
        row = deactivate_airbyte_connection(conn, CONNECTION, actor="cli")
    assert (row.connection_id, row.tenant_id, row.is_active) == (CANONICAL, "island-grill", False)
    assert connection_rows(database) == [
        (CANONICAL, "island-grill", "google_ads", "1234567890", 60, False)
    ]
    assert audit_rows(database)[-1] == (
        "island-grill",
        "cli",
        "airbyte_connection_deactivated",
        "airbyte_connection",
        CANONICAL,
        {"provider": "google_ads"},
    )


def test_deactivating_an_unregistered_connection_is_refused_unaudited(
    database: Database, tenants: tuple[str, str]
) -> None:
    refused = pytest.raises(ConnectionNotFound, match=f"no Airbyte connection {CANONICAL}")
    with refused, engine(database).begin() as conn:
        deactivate_airbyte_connection(conn, CONNECTION, actor="cli")
    assert connection_rows(database) == []
    assert [row[2] for row in audit_rows(database)] == ["tenant_created", "tenant_created"]
