"""``/metrics/app/``: request metrics by route template, freshness gauges per tenant, dbt."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from prometheus_client.parser import text_string_to_metric_families
from starlette.testclient import TestClient

from adinsights_pipelines.defs.alerts.observe import REQUESTS_METRIC
from adinsights_pipelines.defs.dbt.definitions import dbt_build_job
from adinsights_pipelines.warehouse.database import engine
from api.telemetry import DBT_JOB
from tests.api.conftest import DORMANT_TENANT, EMPTY_TENANT, TENANTS, ApiWorld


def scrape(client: TestClient) -> dict[str, list]:
    response = client.get("/metrics/app/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    samples: dict[str, list] = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples.setdefault(sample.name, []).append(sample)
    return samples


def value(samples: dict[str, list], name: str, **labels: str) -> float:
    found = [s.value for s in samples.get(name, []) if labels.items() <= s.labels.items()]
    assert len(found) == 1, (name, labels, samples.get(name))
    return float(found[0])


def tenants_of(samples: dict[str, list], name: str) -> set[str]:
    return {s.labels["tenant_id"] for s in samples.get(name, [])}


@pytest.fixture(scope="module")
def client(api_world: ApiWorld):
    with TestClient(api_world.app(metrics_cache_seconds=60)) as test_client:
        yield test_client


def test_requests_are_counted_by_route_template_and_status(
    client: TestClient, api_world: ApiWorld
) -> None:
    acme = api_world.auth("acme")
    for _ in range(3):
        assert client.get("/api/meta/accounts/", headers=acme).status_code == 200
    client.get("/api/meta/campaigns/", params={"account_id": "act_1001"}, headers=acme)
    client.get("/api/meta/campaigns/", params={"account_id": "act_1002"}, headers=acme)
    client.get("/api/meta/accounts/")  # 401
    client.get("/api/meta/accounts/12345/details")  # no such route: never its raw path
    samples = scrape(client)
    counted = REQUESTS_METRIC  # what the alert sensor reads for the API error rate
    assert value(samples, counted, route="/api/meta/accounts/", status="200", method="GET") == 3
    assert value(samples, counted, route="/api/meta/accounts/", status="401") == 1
    assert value(samples, counted, route="/api/meta/campaigns/", status="200") == 2
    assert value(samples, counted, route="unmatched", status="404") == 1
    routes = {s.labels["route"] for s in samples[counted]}
    assert not any("12345" in r or "act_" in r for r in routes)
    latency = "api_request_duration_seconds_count"
    assert value(samples, latency, route="/api/meta/accounts/", status="200") == 3
    assert value(samples, "api_request_duration_seconds_sum", route="/api/meta/accounts/",
                 status="200") > 0  # fmt: skip


def test_sync_and_snapshot_ages_per_tenant(client: TestClient, api_world: ApiWorld) -> None:
    before = datetime.now(UTC).timestamp()
    samples = scrape(client)
    after = datetime.now(UTC).timestamp()

    def between(name: str, tenant: str, moment: datetime) -> None:
        age = value(samples, name, tenant_id=tenant)
        assert before - moment.timestamp() - 1 <= age <= after - moment.timestamp() + 1

    between("meta_sync_age_seconds", "acme", api_world.meta_last_success["acme"])
    between("meta_sync_age_seconds", "acme-2", api_world.meta_last_success["acme-2"])
    assert value(samples, "meta_sync_age_seconds", tenant_id="beta") == math.inf  # never ok
    assert "empty-co" not in tenants_of(samples, "meta_sync_age_seconds")  # not connected

    between("airbyte_sync_age_seconds", "acme", api_world.airbyte_last_success["acme"])
    assert value(samples, "airbyte_sync_age_seconds", tenant_id="acme-2") == math.inf
    assert tenants_of(samples, "airbyte_sync_age_seconds") == {"acme", "acme-2"}

    with engine(api_world.db).connect() as conn:
        generated = dict(
            conn.execute(
                sa.text("select tenant_id, snapshot_generated_at from app.metrics_snapshots")
            ).all()
        )
    assert {"acme", "acme-2"} <= set(generated)
    for tenant in (*TENANTS, EMPTY_TENANT, DORMANT_TENANT):  # other tests may store some
        if tenant in generated:
            between("metrics_snapshot_age_seconds", tenant, generated[tenant])
        else:
            assert value(samples, "metrics_snapshot_age_seconds", tenant_id=tenant) == math.inf
    assert DORMANT_TENANT not in generated


def test_dbt_run_duration_is_the_latest_finished_dbt_build_run(
    client: TestClient, api_world: ApiWorld
) -> None:
    assert dbt_build_job.name == DBT_JOB
    _, start, end = api_world.dbt_run
    samples = scrape(client)
    assert value(samples, "dbt_run_duration_seconds") == pytest.approx(end - start)
    assert value(samples, "dbt_run_finished_timestamp_seconds") == pytest.approx(end)
    assert value(samples, "dbt_run_success") == 1
    assert value(samples, "app_metrics_source_up", source="warehouse") == 1
    assert value(samples, "app_metrics_source_up", source="dagster_instance") == 1


def test_gauges_are_read_at_scrape_time_through_a_short_cache(api_world: ApiWorld) -> None:
    """Timestamps are cached for ``metrics_cache_seconds``; ages are computed at each scrape.
    No sleeping: one app caches longer than the test can take, the other not at all."""
    update = (
        "update app.metrics_snapshots set snapshot_generated_at = "
        "snapshot_generated_at {} interval '1 hour' where tenant_id = 'acme-2'"
    )
    with (
        TestClient(api_world.app(metrics_cache_seconds=300.0)) as cached_client,
        TestClient(api_world.app(metrics_cache_seconds=0.0)) as live_client,
    ):
        first = value(scrape(cached_client), "metrics_snapshot_age_seconds", tenant_id="acme-2")
        live_first = value(scrape(live_client), "metrics_snapshot_age_seconds", tenant_id="acme-2")
        with engine(api_world.db).begin() as conn:
            conn.execute(sa.text(update.format("-")))
        try:
            cached = value(
                scrape(cached_client), "metrics_snapshot_age_seconds", tenant_id="acme-2"
            )
            assert first <= cached < first + 60  # the cached timestamp; the age moves with time
            fresh = value(scrape(live_client), "metrics_snapshot_age_seconds", tenant_id="acme-2")
            assert fresh >= live_first + 3600
        finally:
            with engine(api_world.db).begin() as conn:
                conn.execute(sa.text(update.format("+")))


def test_metrics_need_no_key(client: TestClient) -> None:
    assert client.get("/metrics/app/").status_code == 200
