"""Adding, changing and deactivating tenants (services/tenant_onboarding.py) against a real
PostgreSQL: the tenant row and its audit record, written together or not at all."""

from __future__ import annotations

import pytest

from adinsights_pipelines.errors import AdinsightsError
from adinsights_pipelines.services.tenant_onboarding import (
    add_tenant,
    deactivate_tenant,
    update_tenant,
)
from adinsights_pipelines.tenant_store import TenantNotFound
from adinsights_pipelines.warehouse.database import Database, engine
from tests.services.audit_log import audit_rows
from tests.sql import query


def tenant_rows(db: Database) -> list[tuple[object, ...]]:
    """(id, name, status, reporting_currency) per tenant."""
    return [
        tuple(row)
        for row in query(db, "select id, name, status, reporting_currency from app.tenants")
    ]


def test_new_tenant_is_created_active_in_jmd_and_audited(database: Database) -> None:
    with engine(database).begin() as conn:
        created = add_tenant(conn, "island-grill", "Island Grill", actor="cli")
    assert created is True
    assert tenant_rows(database) == [("island-grill", "Island Grill", "active", "JMD")]
    assert audit_rows(database) == [
        ("island-grill", "cli", "tenant_created", "tenant", "island-grill", {})
    ]


def test_adding_a_deactivated_tenant_reactivates_it_with_its_new_currency(
    database: Database,
) -> None:
    with engine(database).begin() as conn:
        add_tenant(conn, "island-grill", "Island Grill", actor="cli")
        deactivate_tenant(conn, "island-grill", actor="cli")
    with engine(database).begin() as conn:
        created = add_tenant(conn, "island-grill", "Island Grill Ltd", "usd", actor="api")
    assert created is False
    assert tenant_rows(database) == [("island-grill", "Island Grill Ltd", "active", "USD")]
    assert audit_rows(database)[-1] == (
        "island-grill",
        "api",
        "tenant_reactivated",
        "tenant",
        "island-grill",
        {"reporting_currency": "USD"},
    )


def test_invalid_tenant_id_writes_nothing(database: Database) -> None:
    refused = pytest.raises(AdinsightsError, match="invalid tenant id 'Not Valid!'")
    with refused, engine(database).begin() as conn:
        add_tenant(conn, "Not Valid!", "x", actor="cli")
    assert tenant_rows(database) == []
    assert audit_rows(database) == []


def test_unknown_currency_writes_nothing(database: Database) -> None:
    with pytest.raises(AdinsightsError), engine(database).begin() as conn:
        add_tenant(conn, "island-grill", "Island Grill", "XYZ", actor="cli")
    assert tenant_rows(database) == []
    assert audit_rows(database) == []


def test_deactivation_keeps_the_row_and_is_audited(database: Database) -> None:
    with engine(database).begin() as conn:
        add_tenant(conn, "island-grill", "Island Grill", actor="cli")
    with engine(database).begin() as conn:
        deactivate_tenant(conn, "island-grill", actor="cli")
    assert tenant_rows(database) == [("island-grill", "Island Grill", "inactive", "JMD")]
    assert [row[2] for row in audit_rows(database)] == ["tenant_created", "tenant_deactivated"]
    assert audit_rows(database)[-1] == (
        "island-grill",
        "cli",
        "tenant_deactivated",
        "tenant",
        "island-grill",
        {},
    )


def test_deactivating_an_unknown_tenant_is_refused_unaudited(database: Database) -> None:
    refused = pytest.raises(TenantNotFound, match="tenant 'nobody-here' does not exist")
    with refused, engine(database).begin() as conn:
        deactivate_tenant(conn, "nobody-here", actor="cli")
    assert audit_rows(database) == []


def test_update_audits_each_change_from_and_to(database: Database) -> None:
    with engine(database).begin() as conn:
        add_tenant(conn, "island-grill", "Island Grill", actor="cli")
    with engine(database).begin() as conn:
        changes = update_tenant(
            conn, "island-grill", actor="cli", name="Island Grill Ltd", reporting_currency="usd"
        )
    expected = {
        "name": {"from": "Island Grill", "to": "Island Grill Ltd"},
        "reporting_currency": {"from": "JMD", "to": "USD"},
    }
    assert changes == expected
    assert tenant_rows(database) == [("island-grill", "Island Grill Ltd", "active", "USD")]
    assert audit_rows(database)[-1] == (
        "island-grill",
        "cli",
        "tenant_updated",
        "tenant",
        "island-grill",
        {"changes": expected},
    )


def test_update_that_changes_nothing_is_not_audited(database: Database) -> None:
    with engine(database).begin() as conn:
        add_tenant(conn, "island-grill", "Island Grill", actor="cli")
    with engine(database).begin() as conn:
        changes = update_tenant(conn, "island-grill", actor="cli", name="Island Grill")
    assert changes == {}
    assert [row[2] for row in audit_rows(database)] == ["tenant_created"]


def test_update_with_a_bad_attribution_writes_nothing(database: Database) -> None:
    with engine(database).begin() as conn:
        add_tenant(conn, "island-grill", "Island Grill", actor="cli")
    refused = pytest.raises(AdinsightsError, match=r"^attribution: ")
    with refused, engine(database).begin() as conn:
        update_tenant(
            conn, "island-grill", actor="cli", name="Renamed", attribution="7d_click,1d_click"
        )
    assert tenant_rows(database) == [("island-grill", "Island Grill", "active", "JMD")]
    assert [row[2] for row in audit_rows(database)] == ["tenant_created"]


def test_updating_an_unknown_tenant_is_refused_unaudited(database: Database) -> None:
    with pytest.raises(TenantNotFound), engine(database).begin() as conn:
        update_tenant(conn, "nobody-here", actor="cli", name="Nobody")
    assert audit_rows(database) == []
