"""``meta_insights`` reads each ad account's lookback window in the account's own time zone.

Meta reports an account's days in its ``timezone_name``. The simulator's accounts are all in
America/Jamaica, so the test writes other zones into ``raw.meta_ad_accounts`` (as
``meta_ad_accounts`` would store them from Meta) and runs ``meta_insights`` alone.
"""

from collections.abc import Iterator
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from dagster import AssetKey, DagsterInstance

from adinsights_pipelines.definitions import defs
from adinsights_pipelines.simulators.meta_graph import MetaSimulator
from adinsights_pipelines.warehouse.database import Database, engine
from tests.defs.conftest import MetaTenants
from tests.sql import query

LOOKBACK_DAYS = 3
TENANT = "zoned"
# UTC+14 and UTC-11: 25 hours apart, so at any instant their days differ (by one or two)
EAST, WEST = "Pacific/Kiritimati", "Pacific/Pago_Pago"


@pytest.fixture
def accounts(
    instance: DagsterInstance,
    product_env: Database,
    meta_sim: MetaSimulator,
    meta_tenants: MetaTenants,
) -> Iterator[list[str]]:
    meta_tenants(LOOKBACK_DAYS, {TENANT: "sim_zones_zoned"})
    job = defs.resolve_job_def("meta_sync")
    done = job.execute_in_process(
        instance=instance, partition_key=TENANT, asset_selection=[AssetKey("meta_ad_accounts")]
    )
    assert done.success
    sql = "select account_id from raw.meta_ad_accounts where tenant_id = :t order by account_id"
    ids = [row.account_id for row in query(product_env, sql, t=TENANT)]
    assert len(ids) == 2
    with engine(product_env).begin() as conn:
        for account_id, zone in zip(ids, (EAST, WEST), strict=True):
            conn.execute(
                sa.text(
                    "update raw.meta_ad_accounts set timezone_name = :z "
                    "where tenant_id = :t and account_id = :a"
                ),
                {"z": zone, "t": TENANT, "a": account_id},
            )
    meta_sim.state.clear_requests()
    yield ids
    meta_sim.state.clear_requests()


def _today(zone: str) -> date:
    return datetime.now(ZoneInfo(zone)).date()


def test_each_account_reads_the_window_ending_on_its_own_today(
    instance: DagsterInstance,
    product_env: Database,
    meta_sim: MetaSimulator,
    accounts: list[str],
) -> None:
    east, west = accounts
    before = {EAST: _today(EAST), WEST: _today(WEST)}
    run = defs.resolve_job_def("meta_sync").execute_in_process(
        instance=instance, partition_key=TENANT, asset_selection=[AssetKey("meta_insights")]
    )
    after = {EAST: _today(EAST), WEST: _today(WEST)}
    assert run.success
    if before != after:
        pytest.skip("a zone's midnight passed during the run; the expectation is ambiguous")

    # The time ranges asked of Meta, per account
    asked: dict[str, set[str]] = {}
    for record in meta_sim.state.requests:
        if record.path.endswith("/insights") and "time_range" in record.query:
            account = record.path.split("/")[-2]
            asked.setdefault(account, set()).add(record.query["time_range"])

    def time_range(zone: str) -> str:
        until = before[zone]
        since = until - timedelta(days=LOOKBACK_DAYS - 1)
        return f'{{"since":"{since.isoformat()}","until":"{until.isoformat()}"}}'

    assert asked == {east: {time_range(EAST)}, west: {time_range(WEST)}}
    # Kiritimati is a day or two ahead of Pago Pago, never level
    assert 1 <= (before[EAST] - before[WEST]).days <= 2

    synced = dict(
        query(
            product_env,
            "select account_id, synced_through from app.meta_sync_state where tenant_id = :t",
            t=TENANT,
        )
    )
    assert synced == {east: before[EAST], west: before[WEST]}
    metadata = run.get_asset_materialization_events()[0].materialization.metadata
    assert (
        metadata["window_since"].value
        == (before[WEST] - timedelta(days=LOOKBACK_DAYS - 1)).isoformat()
    )
    assert metadata["window_until"].value == before[EAST].isoformat()
