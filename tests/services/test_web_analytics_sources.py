"""Registering and removing GA4 properties and Search Console sites
(services/web_analytics_sources.py) against a real PostgreSQL."""

from __future__ import annotations

import pytest

from adinsights_pipelines.errors import AdinsightsError
from adinsights_pipelines.services.web_analytics_sources import (
    add_web_analytics_source,
    remove_web_analytics_source,
)
from adinsights_pipelines.tenant_store import TenantNotFound
from adinsights_pipelines.warehouse.database import Database, engine
from tests.services.audit_log import audit_rows
from tests.sql import query


def source_rows(db: Database) -> list[tuple[object, ...]]:
    """(tenant_id, provider, property_id, site_url, is_active) per registered source."""
    sql = "select tenant_id, provider, property_id, site_url, is_active "
    return [tuple(row) for row in query(db, sql + "from app.web_analytics_sources order by id")]


def test_ga4_property_is_stored_normalised_and_audited(database: Database, tenant: str) -> None:
    with engine(database).begin() as conn:
        added = add_web_analytics_source(conn, tenant, "ga4", " properties/123456 ", actor="cli")
    assert added == ("123456", True)
    assert source_rows(database) == [(tenant, "ga4", "123456", None, True)]
    assert audit_rows(database)[-1] == (
        tenant,
        "cli",
        "web_analytics_source_added",
        "web_analytics_source",
        "ga4:123456",
        {},
    )


def test_removed_site_is_kept_inactive_and_comes_back_reactivated(
    database: Database, tenant: str
) -> None:
    site = "sc-domain:islandgrill.example"
    with engine(database).begin() as conn:
        add_web_analytics_source(conn, tenant, "search_console", site, actor="cli")
    with engine(database).begin() as conn:
        removed = remove_web_analytics_source(conn, tenant, "search_console", site, actor="cli")
    assert removed == site
    assert source_rows(database) == [(tenant, "search_console", None, site, False)]
    with engine(database).begin() as conn:
        _, created = add_web_analytics_source(conn, tenant, "search_console", site, actor="cli")
    assert created is False
    assert source_rows(database) == [(tenant, "search_console", None, site, True)]
    assert [(row[2], row[4]) for row in audit_rows(database)[1:]] == [
        ("web_analytics_source_added", f"search_console:{site}"),
        ("web_analytics_source_deactivated", f"search_console:{site}"),
        ("web_analytics_source_reactivated", f"search_console:{site}"),
    ]


def test_removing_a_source_the_tenant_does_not_sync_is_refused_unaudited(
    database: Database, tenant: str
) -> None:
    refused = pytest.raises(AdinsightsError, match="tenant 'island-grill' has no active ga4 42")
    with refused, engine(database).begin() as conn:
        remove_web_analytics_source(conn, tenant, "ga4", "42", actor="cli")
    assert [row[2] for row in audit_rows(database)] == ["tenant_created"]


def test_malformed_property_id_writes_nothing(database: Database, tenant: str) -> None:
    refused = pytest.raises(AdinsightsError, match="invalid GA4 property id 'UA-1234'")
    with refused, engine(database).begin() as conn:
        add_web_analytics_source(conn, tenant, "ga4", "UA-1234", actor="cli")
    assert source_rows(database) == []
    assert [row[2] for row in audit_rows(database)] == ["tenant_created"]


def test_unknown_tenant_writes_nothing(database: Database) -> None:
    with pytest.raises(TenantNotFound), engine(database).begin() as conn:
        add_web_analytics_source(conn, "nobody-here", "ga4", "123", actor="cli")
    assert source_rows(database) == []
    assert audit_rows(database) == []
