"""Weekly data-key rotation (the runbook's `rotate_deks` task)."""

from dagster import (
    Definitions,
    OpExecutionContext,
    job,
    op,
)

from adinsights_pipelines.defs.resources import KeyringResource, WarehouseResource
from adinsights_pipelines.defs.tenants.partitions import jamaica_schedule
from adinsights_pipelines.encryption import rotate_deks


@op
def rotate_tenant_data_keys(
    context: OpExecutionContext, warehouse: WarehouseResource, keyring: KeyringResource
) -> None:
    report = rotate_deks(
        warehouse.engine(),
        keyring.keyring(),
        on_tenant_done=lambda tenant, count: context.log.info(
            "tenant %s: data key rotated, %d credentials re-encrypted", tenant, count
        ),
    )
    context.log.info(
        "rotated data keys of %d tenants (%d credentials)", len(report.tenants), report.credentials
    )


@job(description="Give every tenant a new data key and re-encrypt its credentials.")
def rotate_deks_job() -> None:
    rotate_tenant_data_keys()


rotate_deks_weekly = jamaica_schedule("rotate_deks_weekly", rotate_deks_job, "0 4 * * 0")

defs = Definitions(jobs=[rotate_deks_job], schedules=[rotate_deks_weekly])
