"""``/api/meta/*`` and ``/api/integrations/social/status/`` against synced simulator data."""

from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from dagster import DagsterInstance
from starlette.testclient import TestClient

from adinsights_pipelines.api_keys import create_api_key
from adinsights_pipelines.definitions import defs
from adinsights_pipelines.settings import Settings
from adinsights_pipelines.tenant_store import add_tenant, mark_credential, set_credential
from adinsights_pipelines.warehouse.database import Database, engine
from api.app import create_app
from tests.api.conftest import NO_THROTTLES
from tests.api.reads import get, walk

# Overlapping ids and names on purpose.
TENANTS = {"acme": "sim_read_acme", "acme-jm": "sim_read_acme_jm"}


@pytest.fixture
def synced(
    instance: DagsterInstance, product_env: Database, keyring, monkeypatch
) -> Iterator[tuple[TestClient, dict[str, str]]]:
    monkeypatch.setenv("ADINSIGHTS_META_INSIGHTS_LOOKBACK_DAYS", "3")
    keys = {}
    with engine(product_env).begin() as conn:
        for tenant, token in TENANTS.items():
            add_tenant(conn, tenant, "Acme")
            set_credential(conn, keyring, tenant, "meta", token)
            keys[tenant] = create_api_key(conn, tenant_id=tenant)
        add_tenant(conn, "fresh-co", "Fresh")
        keys["fresh-co"] = create_api_key(conn, tenant_id="fresh-co")
    instance.add_dynamic_partitions("tenant", list(TENANTS))
    for tenant in TENANTS:
        for job in ("meta_sync", "meta_hierarchy_sync"):
            assert (
                defs.resolve_job_def(job)
                .execute_in_process(instance=instance, partition_key=tenant)
                .success
            )
    # Throttles off: walking every page of insights is not what this module tests.
    settings = Settings().model_copy(update=NO_THROTTLES)
    with TestClient(create_app(product_env, settings)) as client:
        yield client, keys


def test_each_level_lists_only_the_tenants_objects(synced, product_env: Database) -> None:
    client, keys = synced
    accounts = get(client, keys["acme"], "/api/meta/accounts/")["results"]
    other_accounts = get(client, keys["acme-jm"], "/api/meta/accounts/")["results"]
    assert len(accounts) == 2
    assert not {a["account_id"] for a in accounts} & {a["account_id"] for a in other_accounts}

    account = accounts[0]["account_id"]
    campaigns = get(client, keys["acme"], "/api/meta/campaigns/", account_id=account)["results"]
    assert campaigns and all(c["account_id"] == account for c in campaigns)
    # Another tenant asking for this account sees nothing.
    assert get(client, keys["acme-jm"], "/api/meta/campaigns/", account_id=account)["results"] == []
    adsets = get(
        client, keys["acme"], "/api/meta/adsets/", campaign_id=campaigns[0]["campaign_id"]
    )["results"]
    assert adsets and all(s["campaign_id"] == campaigns[0]["campaign_id"] for s in adsets)
    ads = get(client, keys["acme"], "/api/meta/ads/", adset_id=adsets[0]["adset_id"])["results"]
    assert ads and all(a["adset_id"] == adsets[0]["adset_id"] for a in ads)


@pytest.mark.parametrize(
    ("breakdown", "table", "key"),
    [
        (None, "raw.meta_insights_ad", ("date_start", "ad_id")),
        ("region", "raw.meta_insights", ("date_start", "ad_id", "region")),
    ],
)
def test_insights_page_through_every_row_once(
    synced, product_env: Database, breakdown: str | None, table: str, key: tuple[str, ...]
) -> None:
    client, keys = synced
    account = get(client, keys["acme"], "/api/meta/accounts/")["results"][0]["account_id"]
    with engine(product_env).connect() as conn:
        expected = conn.execute(
            sa.text(
                f"select count(*), min(date_start), max(date_start) from {table} "
                "where tenant_id = 'acme' and account_id = :a"
            ),
            {"a": account},
        ).one()
    extra = {"breakdown": breakdown} if breakdown else {}
    rows = walk(
        client,
        keys["acme"],
        "/api/meta/insights/",
        account_id=account,
        level="ad",
        since=expected[1].isoformat(),
        until=expected[2].isoformat(),
        limit=7,
        **extra,
    )
    keys_seen = [tuple(r[k] for k in key) for r in rows]
    assert len(rows) == expected[0] and len(set(keys_seen)) == len(rows)
    assert keys_seen == sorted(keys_seen)
    assert all(isinstance(r["spend"], str) for r in rows)
    if breakdown is None:
        # each ad's day as Meta reports it without a breakdown: conversions and their value
        assert all(r["region"] is None for r in rows)
        assert all(isinstance(r["conversions"], str) for r in rows)
        assert any(r["conversions"] != "0.0000" for r in rows)
        assert all(isinstance(r["conversion_value"], str) for r in rows)
    else:
        # Meta returns no off-Meta actions with region: conversions were not read
        assert all(r["region"] for r in rows)
        assert all(r["conversions"] is None and r["actions"] == [] for r in rows)


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/api/meta/campaigns/", {}),
        ("/api/meta/campaigns/", {"account_id": "123"}),
        ("/api/meta/adsets/", {"campaign_id": "abc"}),
        ("/api/meta/insights/", {"account_id": "act_1", "level": "campaign"}),
        ("/api/meta/insights/", {"account_id": "act_1", "breakdown": "dma"}),
        ("/api/meta/insights/", {"account_id": "act_1", "since": "2026-02-30"}),
        (
            "/api/meta/insights/",
            {"account_id": "act_1", "since": "2026-05-02", "until": "2026-05-01"},
        ),
        ("/api/meta/accounts/", {"cursor": "not-a-cursor"}),
        ("/api/meta/accounts/", {"limit": "0"}),
    ],
)
def test_bad_parameters_answer_400_problems(product_env: Database, path, params) -> None:
    with engine(product_env).begin() as conn:
        add_tenant(conn, "acme", "Acme")
        key = create_api_key(conn, tenant_id="acme")
    with TestClient(create_app(product_env)) as client:
        response = client.get(path, params=params, headers={"Authorization": f"Bearer {key}"})
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("application/problem+json")


def social_status(client: TestClient, key: str) -> dict[str, dict]:
    """``/api/integrations/social/status/``'s entries by platform."""
    platforms = get(client, key, "/api/integrations/social/status/")["platforms"]
    return {p["platform"]: p for p in platforms}


def test_social_status_has_the_four_states(synced, product_env: Database, keyring) -> None:
    client, keys = synced
    status = social_status(client, keys["acme"])
    assert status["meta"]["status"] == "active" and status["meta"]["reason"] is None
    assert status["google_ads"]["status"] == "not_connected"
    with engine(product_env).begin() as conn:
        mark_credential(conn, "acme", "meta", "reauth_required", "credential_reauth_required")
        conn.execute(
            sa.text(
                "update app.meta_sync_state set last_success_at = "
                "now() - interval '5 hours' where tenant_id = 'acme-jm'"
            )
        )
    status = social_status(client, keys["acme"])
    assert (status["meta"]["status"], status["meta"]["reason"]) == (
        "started_not_complete",
        "credential_reauth_required",
    )
    other = social_status(client, keys["acme-jm"])
    assert (other["meta"]["status"], other["meta"]["reason"]) == ("complete", "no_recent_sync")
    with engine(product_env).begin() as conn:
        set_credential(conn, keyring, "fresh-co", "meta", "sim_read_fresh")
    fresh = social_status(client, keys["fresh-co"])
    assert (fresh["meta"]["status"], fresh["meta"]["reason"]) == (
        "started_not_complete",
        "no_accounts_synced",
    )
