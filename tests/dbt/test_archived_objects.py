"""Archived and deleted campaigns, ad sets and ads reach raw, the dims and the API.

Graph's ``campaigns``, ``adsets`` and ``ads`` edges leave ARCHIVED and DELETED objects out
unless a request asks for them; the simulator behaves the same way and has one archived and one
deleted campaign (with an ad set and an ad each) per account. The real hierarchy sync, the real
``dbt_build`` job and the API must all keep them, with their names and statuses.
"""

import json
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from dagster import DagsterInstance
from starlette.testclient import TestClient

from adinsights_pipelines.api_keys import create_api_key
from adinsights_pipelines.definitions import defs
from adinsights_pipelines.defs.meta.client import MetaGraphClient
from adinsights_pipelines.encryption import LocalKeyring
from adinsights_pipelines.settings import Settings
from adinsights_pipelines.simulators.meta_graph import MetaSimulator
from adinsights_pipelines.tenant_store import add_tenant, set_credential
from adinsights_pipelines.warehouse.database import Database, engine
from api.app import create_app
from tests.api.conftest import NO_THROTTLES

TENANT, TOKEN = "keeper", "sim_archived_keeper"
HIDDEN = '["ARCHIVED","DELETED"]'


def _hidden_objects(meta_sim: MetaSimulator) -> dict[str, list[dict[str, Any]]]:
    """What Graph lists when asked for ARCHIVED and DELETED only, read without our sync."""
    found: dict[str, list[dict[str, Any]]] = {"campaigns": [], "adsets": [], "ads": []}
    fields = {
        "campaigns": "id,account_id,name,status,effective_status",
        "adsets": "id,account_id,campaign_id,name,status,effective_status",
        "ads": "id,account_id,campaign_id,adset_id,name,status,effective_status",
    }
    with MetaGraphClient(TOKEN, base_url=meta_sim.url) as graph:
        for account in graph.list_ad_accounts(("id",)):
            for edge in found:
                found[edge] += graph.iter_pages(
                    f"{account['id']}/{edge}",
                    {"fields": fields[edge], "effective_status": HIDDEN},
                )
    return found


@pytest.fixture
def built(
    instance: DagsterInstance,
    product_env: Database,
    meta_sim: MetaSimulator,
    keyring: LocalKeyring,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[tuple[dict[str, list[dict[str, Any]]], TestClient, str]]:
    monkeypatch.setenv("ADINSIGHTS_META_INSIGHTS_LOOKBACK_DAYS", "2")
    monkeypatch.setenv("ADINSIGHTS_META_INITIAL_SYNC_DAYS", "2")
    with engine(product_env).begin() as conn:
        add_tenant(conn, TENANT, "Keeper")
        set_credential(conn, keyring, TENANT, "meta", TOKEN)
        key = create_api_key(conn, tenant_id=TENANT)
    instance.add_dynamic_partitions("tenant", [TENANT])
    for job in ("meta_sync", "meta_hierarchy_sync"):
        run = defs.resolve_job_def(job).execute_in_process(instance=instance, partition_key=TENANT)
        assert run.success, job
    build = defs.resolve_job_def("dbt_build").execute_in_process(
        instance=instance, raise_on_error=False
    )
    materialized = {
        e.asset_key.to_user_string()
        for e in build.get_asset_materialization_events()
        if e.asset_key is not None
    }
    assert {"dim_campaigns", "dim_ads"} <= materialized
    settings = Settings().model_copy(update=NO_THROTTLES)
    with TestClient(create_app(product_env, settings)) as client:
        yield _hidden_objects(meta_sim), client, key


def _act(account_id: str) -> str:
    """Graph gives an object's ``account_id`` as digits; our tables key accounts ``act_<id>``."""
    return account_id if account_id.startswith("act_") else f"act_{account_id}"


def _rows(db: Database, sql: str) -> dict[str, dict[str, Any]]:
    with engine(db).connect() as conn:
        return {r["id"]: dict(r) for r in conn.execute(sa.text(sql), {"t": TENANT}).mappings()}


def test_archived_and_deleted_objects_reach_raw_the_dims_and_the_api(
    built: tuple[dict[str, list[dict[str, Any]]], TestClient, str], product_env: Database
) -> None:
    hidden, client, key = built
    campaigns, adsets, ads = hidden["campaigns"], hidden["adsets"], hidden["ads"]
    # two accounts, one archived and one deleted campaign each, with one ad set and one ad
    statuses = sorted(c["effective_status"] for c in campaigns)
    assert statuses == ["ARCHIVED", "ARCHIVED", "DELETED", "DELETED"]
    assert len(adsets) == len(ads) == 4
    for c in campaigns:
        assert c["name"] == f"Sim Campaign {c['effective_status'].title()}"

    # raw: every one of them, with Meta's name and both statuses
    raw: dict[str, dict[str, dict[str, Any]]] = {}
    for level, objects, columns in (
        ("campaign", campaigns, ("name", "status", "effective_status")),
        ("adset", adsets, ("campaign_id", "name", "effective_status")),
        ("ad", ads, ("adset_id", "name", "effective_status")),
    ):
        raw[level] = _rows(
            product_env,
            f"select {level}_id as id, {', '.join(columns)} from raw.meta_{level}s "
            "where tenant_id = :t",
        )
        for o in objects:
            assert raw[level][o["id"]] == {"id": o["id"], **{c: o[c] for c in columns}}
    # the live objects are there too
    assert len(raw["campaign"]) > len(campaigns)

    # dims: dim_campaigns and dim_ads carry names and statuses
    dim_campaigns = _rows(
        product_env,
        "select campaign_id as id, platform, account_id, campaign_name, status, "
        "effective_status from marts.dim_campaigns where tenant_id = :t",
    )
    for c in campaigns:
        assert dim_campaigns[c["id"]] == {
            "id": c["id"],
            "platform": "meta",
            "account_id": _act(c["account_id"]),
            "campaign_name": c["name"],
            "status": c["status"],
            "effective_status": c["effective_status"],
        }
    dim_ads = _rows(
        product_env,
        "select ad_id as id, campaign_id, campaign_name, campaign_effective_status, adset_id, "
        "adset_name, adset_effective_status, ad_name, status, effective_status "
        "from marts.dim_ads where tenant_id = :t",
    )
    assert set(dim_ads) == set(raw["ad"])
    by_id = {o["id"]: o for o in campaigns + adsets}
    for a in ads:
        adset, campaign = by_id[a["adset_id"]], by_id[a["campaign_id"]]
        assert dim_ads[a["id"]] == {
            "id": a["id"],
            "campaign_id": campaign["id"],
            "campaign_name": campaign["name"],
            "campaign_effective_status": campaign["effective_status"],
            "adset_id": adset["id"],
            "adset_name": adset["name"],
            "adset_effective_status": adset["effective_status"],
            "ad_name": a["name"],
            "status": a["status"],
            "effective_status": a["effective_status"],
        }
        assert a["name"] == f"Sim Campaign {a['effective_status'].title()} / Ad set 1 / Ad 1"

    # API: listed with every status by default, and selectable by effective_status
    def get(path: str, **params: str) -> list[dict[str, Any]]:
        answer = client.get(path, params=params, headers={"Authorization": f"Bearer {key}"})
        assert answer.status_code == 200, answer.text
        return answer.json()["results"]

    for account in sorted({c["account_id"] for c in campaigns}):
        act = _act(account)
        mine = sorted(
            (c["id"], c["name"], c["effective_status"])
            for c in campaigns
            if c["account_id"] == account
        )
        listed = get("/api/meta/campaigns/", account_id=act)
        assert {(c["campaign_id"], c["name"], c["effective_status"]) for c in listed} >= set(mine)
        only = get("/api/meta/campaigns/", account_id=act, effective_status="ARCHIVED,DELETED")
        assert sorted((c["campaign_id"], c["name"], c["effective_status"]) for c in only) == mine
        deleted = get("/api/meta/campaigns/", account_id=act, effective_status="DELETED")
        assert [c["effective_status"] for c in deleted] == ["DELETED"]
    for s in adsets:
        [row] = get("/api/meta/adsets/", campaign_id=s["campaign_id"])
        assert (row["adset_id"], row["name"], row["status"], row["effective_status"]) == (
            s["id"],
            s["name"],
            s["status"],
            s["effective_status"],
        )
    for a in ads:
        [row] = get("/api/meta/ads/", adset_id=a["adset_id"], effective_status="ARCHIVED,DELETED")
        assert (row["ad_id"], row["name"], row["effective_status"]) == (
            a["id"],
            a["name"],
            a["effective_status"],
        )
    # a status outside the object's enum is refused, naming the allowed ones
    refused = client.get(
        "/api/meta/campaigns/",
        params={"account_id": "act_1", "effective_status": "ADSET_PAUSED"},
        headers={"Authorization": f"Bearer {key}"},
    )
    assert refused.status_code == 400
    assert json.loads(refused.text)["detail"] == (
        "effective_status must be a comma-separated list of: ACTIVE, PAUSED, DELETED, ARCHIVED, "
        "IN_PROCESS, WITH_ISSUES"
    )
