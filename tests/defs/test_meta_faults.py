"""The runbook's Meta failure modes, end to end through Dagster against the Graph simulator.

Each test asserts the database afterwards: raw rows (nothing lost, nothing duplicated),
``app.api_error_log`` and ``app.meta_sync_state`` exactly as the runbook says, and that the
next run picks up what failed.
"""

from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from dagster import AssetKey, DagsterInstance, ExecuteInProcessResult

from adinsights_pipelines.definitions import defs
from adinsights_pipelines.encryption import LocalKeyring
from adinsights_pipelines.simulators.meta_graph import MetaSimulator
from adinsights_pipelines.tenant_store import set_credential
from adinsights_pipelines.warehouse.database import Database, engine
from tests.defs.conftest import MetaTenants
from tests.sql import query

LOOKBACK_DAYS = 4
TOKEN = "sim_faults_t"
#: Every column a sync writes except the load time.
ROW = (
    "account_id, campaign_id, adset_id, ad_id, date_start, region, spend, impressions, clicks, "
    "reach, conversions, actions::text, currency"
)


@pytest.fixture
def tenants(meta_tenants: MetaTenants, meta_sim: MetaSimulator) -> Iterator[list[str]]:
    # "acme" and "twin" see the same Graph data (same token): twin is the clean reference.
    ids = meta_tenants(LOOKBACK_DAYS, {"acme": TOKEN, "twin": TOKEN, "globex": "sim_faults_other"})
    meta_sim.state.clear_requests()
    yield ids
    meta_sim.state.clear_faults()
    meta_sim.state.reset_knobs()


def sync(instance: DagsterInstance, tenant_id: str, *, insights_only: bool = False) -> Any:
    job = defs.resolve_job_def("meta_sync")
    result: ExecuteInProcessResult = job.execute_in_process(
        instance=instance,
        partition_key=tenant_id,
        raise_on_error=False,
        asset_selection=[AssetKey("meta_insights")] if insights_only else None,
    )
    return result


def rows(db: Database, tenant_id: str) -> set[tuple[Any, ...]]:
    with engine(db).connect() as conn:
        found = conn.execute(
            sa.text(f"select {ROW} from raw.meta_insights where tenant_id = :t"), {"t": tenant_id}
        ).all()
    as_set = {tuple(r) for r in found}
    assert len(as_set) == len(found)  # the natural key keeps rows unique
    return as_set


def states(db: Database, tenant_id: str) -> dict[str, tuple[str, str | None]]:
    return {
        r.account_id: (r.last_job_status, r.last_job_error)
        for r in query(
            db,
            "select account_id, last_job_status, last_job_error from app.meta_sync_state "
            "where tenant_id = :t",
            t=tenant_id,
        )
    }


def errors(db: Database, tenant_id: str) -> list[Any]:
    return query(
        db,
        "select endpoint, http_status, error_code, error_subcode, is_retryable, message "
        "from app.api_error_log where tenant_id = :t order by id",
        t=tenant_id,
    )


def accounts(db: Database, tenant_id: str) -> list[str]:
    return [
        r.account_id
        for r in query(
            db,
            "select account_id from raw.meta_ad_accounts where tenant_id = :t order by 1",
            t=tenant_id,
        )
    ]


def test_a_429_storm_within_five_attempts_is_retried_and_every_failure_logged(
    instance: DagsterInstance, product_env: Database, tenants: list[str], meta_sim: MetaSimulator
) -> None:
    assert sync(instance, "twin").success
    meta_sim.state.inject("/insights", count=4, http_status=429, code=4, is_transient=False)

    assert sync(instance, "acme").success

    assert rows(product_env, "acme") == rows(product_env, "twin")
    logged = errors(product_env, "acme")
    assert [(e.http_status, e.error_code, e.is_retryable) for e in logged] == [(429, 4, True)] * 4
    assert all(
        e.endpoint.endswith("/insights") and "access_token" not in e.endpoint for e in logged
    )
    assert {s for s, _ in states(product_env, "acme").values()} == {"succeeded"}


def test_throttling_past_five_attempts_fails_that_account_cleanly_and_the_next_run_recovers(
    instance: DagsterInstance, product_env: Database, tenants: list[str], meta_sim: MetaSimulator
) -> None:
    assert sync(instance, "twin").success
    assert sync(instance, "acme").success
    throttled = accounts(product_env, "acme")[0]
    meta_sim.state.inject(f"{throttled}/insights", count=5, http_status=400, code=17)

    assert sync(instance, "acme", insights_only=True).success  # the other account synced

    status = states(product_env, "acme")
    assert status[throttled][0] == "failed" and "code 17" in (status[throttled][1] or "")
    assert [s for a, (s, _) in status.items() if a != throttled] == ["succeeded"]
    logged = errors(product_env, "acme")
    assert [(e.error_code, e.is_retryable) for e in logged] == [(17, True)] * 5
    assert rows(product_env, "acme") == rows(product_env, "twin")  # nothing lost

    assert sync(instance, "acme", insights_only=True).success  # the next hourly window
    assert {s for s, _ in states(product_env, "acme").values()} == {"succeeded"}


def test_random_5xx_answers_are_retried_and_the_result_equals_a_clean_run(
    instance: DagsterInstance, product_env: Database, tenants: list[str], meta_sim: MetaSimulator
) -> None:
    assert sync(instance, "twin").success
    # A fresh simulator state re-seeds its random draws: with this rate the draws fail
    # several calls, never five in a row, so every call succeeds within its retries.
    meta_sim.state.reset()
    meta_sim.state.error_rate_5xx = 0.45

    assert sync(instance, "acme").success

    answered_500 = sum(1 for r in meta_sim.state.requests if r.status == 500)
    assert answered_500 > 0
    assert len(errors(product_env, "acme")) == answered_500  # each failed call logged once
    assert rows(product_env, "acme") == rows(product_env, "twin")


def test_timeouts_are_retried_then_fail_without_touching_earlier_rows(
    instance: DagsterInstance,
    product_env: Database,
    tenants: list[str],
    meta_sim: MetaSimulator,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert sync(instance, "acme").success
    before = rows(product_env, "acme")
    monkeypatch.setenv("ADINSIGHTS_META_REQUEST_TIMEOUT_SECONDS", "0.2")
    meta_sim.state.latency_s = 0.5

    result = sync(instance, "acme", insights_only=True)

    assert not result.success  # every account timed out: the run fails for the next window
    logged = errors(product_env, "acme")
    assert len(logged) == 2 * 5  # two accounts, five attempts each
    assert {(e.http_status, e.is_retryable) for e in logged} == {(None, True)}
    assert {e.message for e in logged} == {"ReadTimeout talking to the Graph API"}
    assert {s for s, _ in states(product_env, "acme").values()} == {"failed"}
    assert rows(product_env, "acme") == before

    meta_sim.state.latency_s = 0.0
    monkeypatch.setenv("ADINSIGHTS_META_REQUEST_TIMEOUT_SECONDS", "30")
    assert sync(instance, "acme", insights_only=True).success


def test_token_expiring_mid_sync_flags_the_credential_keeps_rows_and_spares_other_tenants(
    instance: DagsterInstance,
    product_env: Database,
    tenants: list[str],
    meta_sim: MetaSimulator,
    keyring: LocalKeyring,
) -> None:
    assert sync(instance, "twin").success
    assert sync(instance, "acme").success  # accounts known; insights of both
    first, second = accounts(product_env, "acme")
    with engine(product_env).begin() as conn:
        conn.execute(sa.text("delete from raw.meta_insights where tenant_id = 'acme'"))
    # The token expires after the first account's rows are read: Graph answers 190/463.
    meta_sim.state.inject(
        f"{second}/insights", count=1, http_status=400, code=190, subcode=463, is_transient=False
    )

    assert not sync(instance, "acme", insights_only=True).success

    (credential,) = query(
        product_env,
        "select token_status, status_reason from app.platform_credentials where tenant_id='acme'",
    )
    assert tuple(credential) == ("reauth_required", "credential_reauth_required")
    status = states(product_env, "acme")
    assert status[first][0] == "succeeded"
    assert status[second] == ("failed", "token rejected")
    twin = rows(product_env, "twin")
    assert rows(product_env, "acme") == {r for r in twin if r[0] == first}  # kept, not deleted
    ((code, subcode, retryable),) = [
        (e.error_code, e.error_subcode, e.is_retryable) for e in errors(product_env, "acme")
    ]
    assert (code, subcode, retryable) == (190, 463, False)

    # The next runs refuse to call Meta until the tenant reconnects; other tenants go on.
    assert not sync(instance, "acme", insights_only=True).success
    assert sync(instance, "globex").success
    with engine(product_env).begin() as conn:
        set_credential(conn, keyring, "acme", "meta", TOKEN)  # reconnected
    assert sync(instance, "acme", insights_only=True).success
    assert rows(product_env, "acme") == twin


def test_late_attribution_inside_the_lookback_updates_that_row_and_no_other(
    instance: DagsterInstance, product_env: Database, tenants: list[str], meta_sim: MetaSimulator
) -> None:
    assert sync(instance, "acme").success
    before = {r[3:6]: r for r in rows(product_env, "acme")}  # (ad, day, region) -> row
    ad_id, day, region = sorted(before)[len(before) // 2]
    assert before[(ad_id, day, region)][6] != 1234.56
    meta_sim.state.configure(
        spend_overrides=[
            {"ad_id": ad_id, "date": day.isoformat(), "region": region, "spend": "1234.56"}
        ]
    )

    assert sync(instance, "acme", insights_only=True).success

    after = {r[3:6]: r for r in rows(product_env, "acme")}
    changed = {key for key in before if before[key] != after[key]}
    assert changed == {(ad_id, day, region)}
    assert set(after) == set(before)
    old, new = before[(ad_id, day, region)], after[(ad_id, day, region)]
    assert float(new[6]) == 1234.56
    assert old[:6] + old[7:] == new[:6] + new[7:]  # spend alone moved
