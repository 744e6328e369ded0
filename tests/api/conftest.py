"""``api_world``: tenants with overlapping ids and names, their keys, data and one real dbt run.

Built once for the tests/api package (package scope): tenants ``acme``, ``acme-2`` and ``beta``
share every Meta id (account ``act_1001``, campaigns ``2001``/``2002``…) and differ only in
their data, each tenant's text fields carrying its *marker* (``<<acme>>``), so a response that
leaks another tenant's row is visible by searching for that tenant's marker. ``empty-co`` has
no data at all, and ``dormant-co`` not even a key. The marts come from the real ``dbt_build``
job run in a real Dagster instance (which also gives ``/metrics/app/`` its
``dbt_run_duration_seconds``), and ``acme``'s snapshot from the real ``metrics_snapshots`` job.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from dagster import DagsterInstance
from starlette.applications import Starlette

from adinsights_pipelines.api_keys import create_api_key
from adinsights_pipelines.audit import record_audit
from adinsights_pipelines.defs.snapshots.payload import compute_payload, store_snapshot
from adinsights_pipelines.demo import QUIET_CONSOLE
from adinsights_pipelines.encryption import keyring_from_settings
from adinsights_pipelines.instance import prepare_dagster_home
from adinsights_pipelines.settings import Settings
from adinsights_pipelines.tenant_store import add_tenant, set_credential
from adinsights_pipelines.warehouse.database import Database, engine
from api.app import create_app
from tests.conftest import ModuleEnvironment, disposing

TENANTS = ("acme", "acme-2", "beta")
EMPTY_TENANT = "empty-co"
DORMANT_TENANT = "dormant-co"  # no data and no key: nothing any test does can touch it
ACCOUNTS = ("act_1001", "act_1002")
CAMPAIGNS = {"2001": "act_1001", "2002": "act_1001", "2003": "act_1002"}
ADSETS = {"3001": "2001", "3002": "2002", "3003": "2003"}
ADS = {"4001": "3001", "4002": "3001", "4003": "3002", "4004": "3003"}
REGIONS = ("Kingston", "Saint Andrew", "Nowhere Land")
GA4_PROPERTY = "123456"  # every tenant's GA4 property has this id
SITE = "https://example.com/"  # and every tenant's Search Console site this URL
DAYS = 6
# Throttles off: tests that want them build an app with budgets of their own.
NO_THROTTLES = {
    "throttle_auth_burst": "",
    "throttle_auth_sustained": "",
    "throttle_address_burst": "",
    "throttle_address_sustained": "",
    "throttle_public": "",
    "throttle_webhook": "",
}


def marker(tenant_id: str) -> str:
    return f"<<{tenant_id}>>"


@dataclass
class ApiWorld:
    db: Database
    settings: Settings
    keys: dict[str, str]  # tenant id -> its key; "operator" -> an operator key
    first_day: date
    last_day: date
    meta_last_success: dict[str, datetime] = field(default_factory=dict)
    airbyte_last_success: dict[str, datetime] = field(default_factory=dict)
    dbt_run: tuple[str, float, float] = ("", 0.0, 0.0)  # run id, start, end

    def app(self, **overrides: Any) -> Starlette:
        return create_app(self.db, self.settings.model_copy(update={**NO_THROTTLES, **overrides}))

    def auth(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[who]}"}


def _seed_tenant(conn: sa.Connection, tenant: str, n: int, first_day: date) -> None:
    mark = marker(tenant)
    accounts = [
        {"t": tenant, "a": a, "name": f"{mark} account {a}", "cur": ("JMD", "USD", "EUR")[n]}
        for a in ACCOUNTS
    ]
    conn.execute(
        sa.text(
            "insert into raw.meta_ad_accounts (tenant_id, account_id, name, currency, "
            "timezone_name, account_status) values (:t, :a, :name, :cur, 'America/Jamaica', 1)"
        ),
        accounts,
    )
    created = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(days=n)
    conn.execute(
        sa.text(
            "insert into raw.meta_campaigns (tenant_id, campaign_id, account_id, name, status, "
            "effective_status, objective, daily_budget, created_time, updated_time) values "
            "(:t, :c, :a, :name, 'ACTIVE', 'ACTIVE', 'OUTCOME_SALES', :budget, :at, :at)"
        ),
        [
            {"t": tenant, "c": c, "a": a, "name": f"{mark} campaign {c}", "budget": 1000 * (n + 1)}
            | {"at": created}
            for c, a in CAMPAIGNS.items()
        ],
    )
    conn.execute(
        sa.text(
            "insert into raw.meta_adsets (tenant_id, adset_id, campaign_id, account_id, name, "
            "status, effective_status, daily_budget, created_time, updated_time) values "
            "(:t, :s, :c, :a, :name, 'ACTIVE', 'ACTIVE', null, :at, :at)"
        ),
        [
            {"t": tenant, "s": s, "c": c, "a": CAMPAIGNS[c], "name": f"{mark} adset {s}"}
            | {"at": created}
            for s, c in ADSETS.items()
        ],
    )
    conn.execute(
        sa.text(
            "insert into raw.meta_ads (tenant_id, ad_id, adset_id, campaign_id, account_id, "
            "name, status, effective_status, created_time, updated_time) values "
            "(:t, :ad, :s, :c, :a, :name, 'ACTIVE', 'ACTIVE', :at, :at)"
        ),
        [
            {"t": tenant, "ad": ad, "s": s, "c": ADSETS[s], "a": CAMPAIGNS[ADSETS[s]]}
            | {"name": f"{mark} ad {ad}", "at": created}
            for ad, s in ADS.items()
        ],
    )
    rows = []
    for ad, s in ADS.items():
        c = ADSETS[s]
        for d in range(DAYS):
            day = first_day + timedelta(days=d)
            for r, region in enumerate(REGIONS):
                rows.append(
                    {
                        "t": tenant,
                        "a": CAMPAIGNS[c],
                        "c": c,
                        "cname": f"{mark} campaign {c}",
                        "s": s,
                        "sname": f"{mark} adset {s}",
                        "ad": ad,
                        "adname": f"{mark} ad {ad}",
                        "day": day,
                        "region": region,
                        "spend": f"{(n + 1) * 10 + d + r / 10:.2f}",
                        "imp": 1000 * (n + 1) + d,
                        "clicks": 10 * (n + 1) + r,
                        "actions": json.dumps([{"action_type": "purchase", "note": mark}]),
                        "cur": ("JMD", "USD", "EUR")[n],
                    }
                )
    conn.execute(
        sa.text(
            "insert into raw.meta_insights (tenant_id, account_id, campaign_id, campaign_name, "
            "adset_id, adset_name, ad_id, ad_name, date_start, date_stop, region, spend, "
            "impressions, clicks, reach, conversions, actions, currency) values "
            "(:t, :a, :c, :cname, :s, :sname, :ad, :adname, :day, :day, :region, "
            "cast(:spend as numeric), :imp, :clicks, :imp, 1, cast(:actions as jsonb), :cur)"
        ),
        rows,
    )
    # The same ads' days as Meta reports them without a breakdown (the sync's other read): the
    # region rows summed, one conversion per region.
    conn.execute(
        sa.text(
            "insert into raw.meta_insights_ad (tenant_id, account_id, campaign_id, "
            "campaign_name, adset_id, adset_name, ad_id, ad_name, date_start, date_stop, spend, "
            "impressions, clicks, reach, conversions, actions, currency, conversion_events) "
            "select tenant_id, account_id, campaign_id, min(campaign_name), adset_id, "
            "min(adset_name), ad_id, min(ad_name), date_start, date_start, sum(spend), "
            "sum(impressions), sum(clicks), max(reach), sum(conversions), "
            "(array_agg(actions))[1], min(currency), 'purchase,lead,complete_registration' "
            "from raw.meta_insights where tenant_id = :t "
            "group by tenant_id, account_id, campaign_id, adset_id, ad_id, date_start"
        ),
        {"t": tenant},
    )
    # GA4 and Search Console: the same property and site, the tenant's marker in the text.
    conn.execute(
        sa.text(
            "insert into raw.ga4_daily (tenant_id, property_id, date, region, "
            "session_default_channel_group, sessions, total_users, new_users, screen_page_views, "
            "engaged_sessions, key_events) values (:t, :p, :day, :region, :channel, :n, :n, 1, "
            ":n, 1, 1.5)"
        ),
        [
            {"t": tenant, "p": GA4_PROPERTY, "day": first_day + timedelta(days=d)}
            | {"region": f"{mark} {region}", "channel": channel, "n": 10 * (n + 1) + d}
            for d in range(DAYS)
            for region in REGIONS[:2]
            for channel in ("Organic Search", "Direct")
        ],
    )
    conn.execute(
        sa.text(
            "insert into raw.search_console_daily (tenant_id, site_url, date, query, page, "
            "country, device, clicks, impressions, ctr, position, data_state) values "
            "(:t, :site, :day, :query, :page, 'jam', 'MOBILE', :n, 100, :n / 100.0, 3.5, :state)"
        ),
        [
            {"t": tenant, "site": SITE, "day": first_day + timedelta(days=d), "n": n + d}
            | {"query": f"{mark} {q}", "page": f"{SITE}{q}", "state": ("final", "all")[d % 2]}
            for d in range(DAYS)
            for q in ("shoes", "boots", "hats")
        ],
    )
    for i in range(5):
        record_audit(
            conn,
            tenant_id=tenant,
            actor="test",
            action=("credential_updated", "tenant_created")[i % 2],
            resource_type=("credential", "tenant")[i % 2],
            resource_id=f"{mark} {i}",
            metadata={"note": mark},
        )


def _build_world(db: Database) -> ApiWorld:
    settings = Settings()
    keyring = keyring_from_settings(settings)
    today = datetime.now(UTC).date()
    first_day = today - timedelta(days=DAYS + 2)
    now = datetime.now(UTC)
    world = ApiWorld(
        db=db, settings=settings, keys={}, first_day=first_day, last_day=today - timedelta(3)
    )
    with engine(db).begin() as conn:
        for n, tenant in enumerate(TENANTS):
            add_tenant(conn, tenant, f"Acme {n}" if tenant.startswith("acme") else "Beta")
            _seed_tenant(conn, tenant, n, first_day)
            world.keys[tenant] = create_api_key(conn, tenant_id=tenant, label=marker(tenant))
        add_tenant(conn, EMPTY_TENANT, "Acme")  # same display name as acme, no data
        world.keys[EMPTY_TENANT] = create_api_key(conn, tenant_id=EMPTY_TENANT)
        world.keys["operator"] = create_api_key(conn, tenant_id=None, operator=True)
        add_tenant(conn, DORMANT_TENANT, "Dormant")
        for tenant in ("acme", "acme-2"):
            set_credential(conn, keyring, tenant, "meta", f"sim_world_{tenant}")
        # Meta: acme synced 10 minutes ago, acme-2 three days ago, beta never succeeded.
        world.meta_last_success = {
            "acme": now - timedelta(minutes=10),
            "acme-2": now - timedelta(days=3),
        }
        for tenant in TENANTS:
            conn.execute(
                sa.text(
                    "insert into app.meta_sync_state (tenant_id, account_id, last_job_status, "
                    "last_synced_at, last_success_at) values (:t, 'act_1001', :status, :at, :ok)"
                ),
                {
                    "t": tenant,
                    "status": "succeeded" if tenant in world.meta_last_success else "failed",
                    "at": now - timedelta(minutes=5),
                    "ok": world.meta_last_success.get(tenant),
                },
            )
        # Airbyte: acme succeeded 30 minutes ago; acme-2 only failed; beta has no connection.
        world.airbyte_last_success = {"acme": now - timedelta(minutes=30)}
        for tenant, status in (("acme", "succeeded"), ("acme-2", "failed")):
            connection = f"conn-{tenant}-google-ads"
            conn.execute(
                sa.text(
                    "insert into app.airbyte_connections (connection_id, tenant_id, provider) "
                    "values (:c, :t, 'google_ads')"
                ),
                {"c": connection, "t": tenant},
            )
            conn.execute(
                sa.text(
                    "insert into app.airbyte_jobs (connection_id, job_id, tenant_id, status, "
                    "records_synced, started_at, finished_at) values (:c, 1, :t, :s, 10, :a, :b)"
                ),
                {
                    "c": connection,
                    "t": tenant,
                    "s": status,
                    "a": now - timedelta(minutes=35),
                    "b": now - timedelta(minutes=30),
                },
            )

    prepare_dagster_home(settings, db)
    from adinsights_pipelines.definitions import defs

    with disposing(DagsterInstance.get()) as instance:
        instance.add_dynamic_partitions("tenant", [*TENANTS, EMPTY_TENANT])
        # The marts, built by the real dbt_build job: all of it, since the blocking data
        # contracts on the fact read every mart.
        dbt = defs.resolve_job_def("dbt_build").execute_in_process(
            instance=instance, run_config=QUIET_CONSOLE
        )
        snapshot = defs.resolve_job_def("metrics_snapshots").execute_in_process(
            instance=instance, partition_key="acme", run_config=QUIET_CONSOLE
        )
        assert dbt.success and snapshot.success
        record = instance.get_run_record_by_id(dbt.run_id)
        assert record is not None and record.start_time and record.end_time
        world.dbt_run = (dbt.run_id, record.start_time, record.end_time)
    with engine(db).begin() as conn:  # acme-2's snapshot stored directly; beta has none
        payload, totals = compute_payload(conn, "acme-2")
        store_snapshot(conn, "acme-2", payload, totals, duration_ms=1, dagster_run_id=None)
    return world


@pytest.fixture(scope="package")
def api_world(module_environment: ModuleEnvironment) -> Iterator[ApiWorld]:
    with module_environment("api_world") as (db, _, _):
        yield _build_world(db)
