"""Our Meta ad rows against Meta's own account totals: a blocking check, a command, a view.

The simulator's ``account_total_skew`` knob makes Meta's level=account totals for one account
and day disagree with its ad rows (as a row lost on the way would). The real sync, the real
``dbt_build`` (whose contract checks run as asset checks) and the real snapshot job must then
refuse that tenant's snapshot, ``adinsights reconcile`` must name the account, day and metric,
and ``/api/ops/sync-health/`` must show it; once Meta's totals agree again, all three clear.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from dagster import DagsterInstance
from starlette.testclient import TestClient

from adinsights_pipelines.api_keys import create_api_key
from adinsights_pipelines.definitions import defs
from adinsights_pipelines.encryption import LocalKeyring
from adinsights_pipelines.settings import Settings
from adinsights_pipelines.simulators.meta_graph import MetaSimulator
from adinsights_pipelines.tenant_store import add_tenant, set_credential
from adinsights_pipelines.warehouse.database import Database, engine
from api.app import create_app
from tests.api.conftest import NO_THROTTLES
from tests.cli import adinsights

TENANT, TOKEN = "tally", "sim_reconcile_tally"


def _run(instance: DagsterInstance, job: str, partition: str | None = None):  # type: ignore[no-untyped-def]
    return defs.resolve_job_def(job).execute_in_process(
        instance=instance, partition_key=partition, raise_on_error=False
    )


def _sync_and_build(instance: DagsterInstance) -> object:
    assert _run(instance, "meta_sync", TENANT).success
    _run(instance, "dbt_build")  # a failed blocking check fails the run; the snapshot says why
    return _run(instance, "metrics_snapshots", TENANT)


def test_a_day_that_does_not_match_metas_account_total_blocks_the_snapshot(
    instance: DagsterInstance,
    product_env: Database,
    meta_sim: MetaSimulator,
    keyring: LocalKeyring,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ADINSIGHTS_META_INSIGHTS_LOOKBACK_DAYS", "3")
    monkeypatch.setenv("ADINSIGHTS_META_INITIAL_SYNC_DAYS", "3")
    with engine(product_env).begin() as conn:
        add_tenant(conn, TENANT, "Tally", "USD")  # Meta accounts bill in USD: no rates needed
        set_credential(conn, keyring, TENANT, "meta", TOKEN)
        operator = create_api_key(conn, tenant_id=None, operator=True)
    instance.add_dynamic_partitions("tenant", [TENANT])
    assert _run(instance, "meta_sync", TENANT).success  # the accounts and their time zones
    with engine(product_env).connect() as conn:
        account, zone = conn.execute(
            sa.text(
                "select account_id, timezone_name from raw.meta_ad_accounts "
                "where tenant_id = :t order by account_id limit 1"
            ),
            {"t": TENANT},
        ).one()
    # a complete day of that account (its own yesterday), Meta's total one dollar and three
    # impressions above what its ads add up to
    day = datetime.now(ZoneInfo(zone or "America/Jamaica")).date() - timedelta(days=1)
    meta_sim.state.configure(
        account_total_skew={f"{account}|{day}": {"spend": "1.00", "impressions": 3}}
    )
    try:
        snapshot = _sync_and_build(instance)
        assert not snapshot.success
        failure = next(e for e in snapshot.all_events if e.is_step_failure)
        error = failure.event_specific_data.error
        message = error.message + (error.cause.message if error.cause else "")
        assert "blocked by failed checks" in message
        assert "meta_reconciles_with_account_totals" in message

        shown = adinsights("reconcile", "--tenant-id", TENANT, "--days", "5")
        assert shown.returncode == 2, shown.stdout + shown.stderr
        mismatched = [line for line in shown.stdout.splitlines() if "MISMATCH" in line]
        assert len(mismatched) == 1 and f"{account}  {day}" in mismatched[0]
        with engine(product_env).connect() as conn:
            ours = conn.execute(
                sa.text(
                    "select sum(spend), sum(impressions) from raw.meta_insights "
                    "where tenant_id = :t and account_id = :a and date_start = :d"
                ),
                {"t": TENANT, "a": account, "d": day},
            ).one()
        detail = (
            f"spend ours {ours[0]:.2f} vs Meta {ours[0] + 1:.2f}; "
            f"impressions ours {ours[1]} vs Meta {ours[1] + 3}"
        )
        assert f"  {TENANT} {account} {day}: {detail}" in shown.stdout
        assert (
            shown.stderr.strip()
            .splitlines()[-1]
            .startswith("adinsights: error: 1 account-days do not match Meta's account totals")
        )

        settings = Settings().model_copy(update=NO_THROTTLES)
        with TestClient(create_app(product_env, settings)) as client:
            body = client.get(
                "/api/ops/sync-health/",
                params={"tenant_id": TENANT},
                headers={"Authorization": f"Bearer {operator}"},
            ).json()
        reconciliation = body["tenants"][0]["reconciliation"]
        assert reconciliation["mismatched"] == 1
        assert reconciliation["days_compared"] >= 2
        assert reconciliation["mismatches"] == [
            {"account_id": account, "day": day.isoformat(), "detail": detail}
        ]
    finally:
        meta_sim.state.configure(account_total_skew={})

    assert _sync_and_build(instance).success  # Meta's totals agree again: the snapshot builds
    cleared = adinsights("reconcile", "--tenant-id", TENANT, "--days", "5")
    assert cleared.returncode == 0, cleared.stderr
    assert "MISMATCH" not in cleared.stdout and " 0 mismatched" in cleared.stdout
