"""Per-tenant metrics snapshots built from the dbt marts."""

import time

from dagster import (
    AssetExecutionContext,
    AssetKey,
    Failure,
    MaterializeResult,
    MetadataValue,
    asset,
)

from adinsights_pipelines.defs.resources import WarehouseResource
from adinsights_pipelines.defs.snapshots.guard import failures_among, protecting_checks_of
from adinsights_pipelines.defs.snapshots.payload import (
    MissingExchangeRates,
    compute_payload,
    store_snapshot,
)
from adinsights_pipelines.defs.tenants.partitions import tenant_partitions


@asset(
    partitions_def=tenant_partitions,
    group_name="snapshots",
    deps=[AssetKey("fct_ad_performance_daily")],
    kinds={"python", "postgres"},
    description=(
        "The tenant's cached metrics payload (app.metrics_snapshots). Not built while a blocking "
        "check upstream (dbt tests, data contracts) has failed."
    ),
)
def metrics_snapshot(
    context: AssetExecutionContext, warehouse: WarehouseResource
) -> MaterializeResult:
    tenant_id = context.partition_key
    # The blocking checks upstream, as the assembled code location computed them (guard.py).
    protecting = protecting_checks_of(context.assets_def, context.asset_key)
    blocked = failures_among(context.instance, protecting, tenant_id)
    if blocked:
        raise Failure(
            description=(
                f"snapshot for {tenant_id} blocked by failed checks: "
                + ", ".join(f.label for f in blocked)
            ),
            metadata={
                "failed_checks": MetadataValue.json([f.label for f in blocked]),
                "check_run_ids": MetadataValue.json(sorted({f.run_id for f in blocked})),
            },
            allow_retries=False,
        )
    started = time.perf_counter()
    with warehouse.engine().begin() as conn:
        try:
            payload, row_totals = compute_payload(conn, tenant_id)
        except MissingExchangeRates as exc:
            # Never a total that silently leaves out (or zeroes) a day's spend: name the days.
            raise Failure(
                description=f"snapshot for {tenant_id} blocked: {exc}",
                metadata={
                    "missing_rate_days": MetadataValue.json(
                        [f"{day} {currency}" for day, currency in exc.missing]
                    ),
                    "reporting_currency": exc.reporting_currency,
                },
                allow_retries=False,
            ) from None
        duration_ms = int((time.perf_counter() - started) * 1000)
        generated_at = store_snapshot(
            conn,
            tenant_id,
            payload,
            row_totals,
            duration_ms=duration_ms,
            dagster_run_id=context.run_id,
        )
    context.log.info("metrics.snapshot.persisted tenant_id=%s rows=%s", tenant_id, row_totals)
    return MaterializeResult(
        metadata={
            "tenant_id": tenant_id,
            "snapshot_generated_at": generated_at.isoformat(),
            "row_totals": MetadataValue.json(row_totals),
            "dagster/row_count": sum(row_totals.values()),
            "duration_ms": duration_ms,
        }
    )
