"""Nightly audit-log retention: export rows older than the window, verify, then delete them."""

from dagster import (
    Definitions,
    MetadataValue,
    OpExecutionContext,
    Output,
    job,
    op,
)

from adinsights_pipelines.audit_retention import export_and_purge_audit_log, export_destination
from adinsights_pipelines.defs.resources import WarehouseResource
from adinsights_pipelines.defs.tenants.partitions import jamaica_schedule
from adinsights_pipelines.settings import load_settings


@op(description="Export audit rows older than ADINSIGHTS_AUDIT_RETENTION_DAYS, then delete them.")
def purge_old_audit_log(context: OpExecutionContext, warehouse: WarehouseResource) -> Output[None]:
    settings = load_settings()
    report = export_and_purge_audit_log(
        warehouse.engine(),
        retention_days=settings.audit_retention_days,
        destination=export_destination(settings),
    )
    context.log.info(
        "audit.retention cutoff=%s exported=%d deleted=%d destination=%s",
        report.cutoff.isoformat(),
        report.exported,
        report.deleted,
        report.destination,
    )
    return Output(
        None,
        metadata={
            "cutoff": report.cutoff.isoformat(),
            "retention_days": settings.audit_retention_days,
            "exported": report.exported,
            "deleted": report.deleted,
            "destination": (
                MetadataValue.path(report.destination)
                if report.destination
                else MetadataValue.text("")
            ),
        },
    )


@job(description="Audit-log retention (runbook: keep at least 365 days, export before deleting).")
def audit_log_retention() -> None:
    purge_old_audit_log()


audit_log_retention_nightly = jamaica_schedule(
    "audit_log_retention_nightly", audit_log_retention, "30 3 * * *"
)

defs = Definitions(jobs=[audit_log_retention], schedules=[audit_log_retention_nightly])
