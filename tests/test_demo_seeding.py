"""The demo's seeding (demo.seed_demo_*) against a real PostgreSQL and the Meta and Google
simulators: it registers the demo tenants, tokens, Airbyte connections and web sources through
the services the CLI uses, audited as theirs, and a second demo writes and audits nothing."""

from __future__ import annotations

from adinsights_pipelines.bootstrap import Runtime
from adinsights_pipelines.demo import (
    DEMO_GOOGLE_ADS,
    DEMO_TENANTS,
    DEMO_WEB_ANALYTICS,
    seed_demo_airbyte,
    seed_demo_tenants,
    seed_demo_web_analytics,
)
from adinsights_pipelines.settings import Settings
from adinsights_pipelines.simulators.airbyte import AirbyteSimState
from adinsights_pipelines.warehouse.database import Database
from tests.services.audit_log import audit_rows
from tests.sql import one, query


def seed(rt: Runtime, airbyte: AirbyteSimState) -> None:
    """What ``adinsights demo`` seeds before its first materialization."""
    seed_demo_tenants(rt, lambda message: None)
    seed_demo_airbyte(rt, airbyte, lambda message: None)
    seed_demo_web_analytics(rt, lambda message: None)


def test_demo_seeds_through_the_services_once(product_env: Database) -> None:
    rt = Runtime(settings=Settings(), db=product_env)
    airbyte = AirbyteSimState(database_url=product_env.plain_url)

    seed(rt, airbyte)
    audited = audit_rows(product_env)
    actions = sorted((tenant, actor, action) for tenant, actor, action, *_ in audited)
    expected = []
    for tenant_id, _, _ in DEMO_TENANTS:
        expected += [
            (tenant_id, "demo", "tenant_created"),
            (tenant_id, "demo", "credential_updated"),  # meta
        ]
    for tenant_id in DEMO_GOOGLE_ADS:
        expected.append((tenant_id, "demo", "airbyte_connection_added"))
    for tenant_id in DEMO_WEB_ANALYTICS:
        expected += [
            (tenant_id, "demo", "credential_updated"),  # ga4, search_console
            (tenant_id, "demo", "credential_updated"),
            (tenant_id, "demo", "web_analytics_source_added"),
            (tenant_id, "demo", "web_analytics_source_added"),
        ]
    assert actions == sorted(expected)
    stored = "select tenant_id, provider, token_status, updated_at from app.platform_credentials"
    credentials = sorted(tuple(row) for row in query(product_env, stored))
    assert [(t, p, s) for t, p, s, _ in credentials] == sorted(
        (tenant_id, provider, "valid")
        for tenant_id, _, _ in DEMO_TENANTS
        for provider in ("ga4", "meta", "search_console")
    )
    registered = (
        "select (select count(*) from app.tenants where status = 'active'), "
        "(select count(*) from app.airbyte_connections where is_active), "
        "(select count(*) from app.web_analytics_sources where is_active)"
    )
    counts = tuple(one(product_env, registered))
    assert counts == (len(DEMO_TENANTS), len(DEMO_GOOGLE_ADS), 2 * len(DEMO_WEB_ANALYTICS))

    seed(rt, airbyte)  # a second demo
    assert audit_rows(product_env) == audited
    assert sorted(tuple(row) for row in query(product_env, stored)) == credentials
    assert tuple(one(product_env, registered)) == counts
