"""A tenant's conversion definition: set, audited, and the stored rows counted again.

Rows are loaded as the sync loads them (``load_insights`` of Meta-shaped ad rows, read without a
breakdown), then the
definition changes through the CLI; expected counts are the hand count of ``ACTIONS`` (5
purchases worth 150.00, 2 leads).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from adinsights_pipelines.defs.meta.loading import load_insights
from adinsights_pipelines.tenant_store import add_tenant
from adinsights_pipelines.warehouse.database import Database, engine
from tests.cli import adinsights
from tests.meta.test_conversions import ACTIONS, VALUES
from tests.sql import query

TENANT = "conv-def"


def _api_row(ad_id: str, day: str) -> dict[str, Any]:
    return {
        "account_id": "777",
        "campaign_id": "c1",
        "adset_id": "s1",
        "ad_id": ad_id,
        "date_start": day,
        "date_stop": day,
        "spend": "10.00",
        "impressions": "100",
        "clicks": "5",
        "actions": ACTIONS,
        "action_values": VALUES,
    }


def _stored(db: Database) -> list[Any]:
    return query(
        db,
        "select ad_id, conversions, conversion_value, conversions_by_event, "
        "conversion_events, _loaded_at from raw.meta_insights_ad "
        "where tenant_id = :t order by ad_id",
        t=TENANT,
    )


def test_changing_the_definition_counts_stored_rows_again_and_is_audited(
    product_env: Database,
) -> None:
    eng = engine(product_env)
    with eng.begin() as conn:
        add_tenant(conn, TENANT, "Conversion Definition")
    rows = [_api_row("a1", "2026-11-29"), _api_row("a2", "2026-11-30")]
    assert load_insights(eng, TENANT, "USD", rows) == 2
    before = _stored(product_env)
    assert [(r.conversions, r.conversion_value, r.conversion_events) for r in before] == [
        (7, 150, "purchase,lead,complete_registration")
    ] * 2

    changed = adinsights("tenants", "update", TENANT, "--conversion-events", "lead")
    assert changed.returncode == 0, changed.stderr
    assert f"tenant {TENANT}: meta_conversion_events default -> lead" in changed.stdout
    assert "conversions counted again under lead: 2 insight rows, 2 changed" in changed.stdout
    after = _stored(product_env)
    assert [(r.conversions, r.conversion_value, r.conversion_events) for r in after] == [
        (2, 0, "lead")
    ] * 2
    assert after[0].conversions_by_event == {
        "lead": {"conversions": "2", "value": None, "action_type": "lead"}
    }
    assert all(a._loaded_at > b._loaded_at for a, b in zip(after, before, strict=True))

    again = adinsights("tenants", "update", TENANT, "--conversion-events", "lead")
    assert again.returncode == 0 and f"tenant {TENANT} unchanged" in again.stdout

    refused = adinsights("tenants", "update", TENANT, "--conversion-events", "Leads!")
    assert refused.returncode == 2
    assert refused.stderr.strip().splitlines()[-1] == (
        "adinsights: error: --conversion-events: conversion event 'Leads!' is not an action "
        "type name (lower case, e.g. purchase, lead, offsite_conversion.custom.1234)"
    )

    back = adinsights("tenants", "update", TENANT, "--conversion-events", "default")
    assert back.returncode == 0, back.stderr
    assert "conversions counted again under purchase,lead,complete_registration" in back.stdout
    assert [r.conversions for r in _stored(product_env)] == [7, 7]
    with eng.connect() as conn:
        audits = conn.execute(
            sa.text(
                "select metadata from app.audit_log where tenant_id = :t "
                "and action = 'tenant_updated' order by id"
            ),
            {"t": TENANT},
        ).scalars()
        assert list(audits) == [
            {"changes": {"meta_conversion_events": {"from": "default", "to": "lead"}}},
            {"changes": {"meta_conversion_events": {"from": "lead", "to": "default"}}},
        ]
        own = conn.execute(
            sa.text("select meta_conversion_events from app.tenants where id = :t"), {"t": TENANT}
        ).scalar_one()
    assert own is None
