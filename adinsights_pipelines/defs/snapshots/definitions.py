from dagster import Definitions

from adinsights_pipelines.defs.snapshots.assets import metrics_snapshot
from adinsights_pipelines.defs.tenants.partitions import every_tenant_schedule, tenant_job

metrics_snapshot_job = tenant_job(
    "metrics_snapshots",
    [metrics_snapshot],
    "Rebuild one tenant's metrics snapshot from the marts.",
)
metrics_snapshots_every_30_minutes = every_tenant_schedule(
    "metrics_snapshots_every_30_minutes", metrics_snapshot_job, "*/30 * * * *"
)

defs = Definitions(
    assets=[metrics_snapshot],
    jobs=[metrics_snapshot_job],
    schedules=[metrics_snapshots_every_30_minutes],
)
