"""Per-tenant metrics snapshots built from the dbt marts."""

import time

from dagster import AssetExecutionContext, AssetKey, MaterializeResult, MetadataValue, asset

from adinsights_pipelines.defs.resources import WarehouseResource
from adinsights_pipelines.defs.snapshots.payload import compute_payload, store_snapshot
from adinsights_pipelines.defs.tenants.partitions import tenant_partitions


@asset(
    partitions_def=tenant_partitions,
    group_name="snapshots",
    deps=[AssetKey("fct_ad_performance_daily")],
    kinds={"python", "postgres"},
    description="The tenant's cached metrics payload (app.metrics_snapshots).",
)
def metrics_snapshot(
    context: AssetExecutionContext, warehouse: WarehouseResource
) -> MaterializeResult:
    tenant_id = context.partition_key
    started = time.perf_counter()
    with warehouse.engine().begin() as conn:
        payload, row_totals = compute_payload(conn, tenant_id)
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
