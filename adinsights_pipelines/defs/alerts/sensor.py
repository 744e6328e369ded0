"""The alert sensor: a thin wrapper that runs one evaluation per tick (about every 60 s).

Its state is the shared one in ``app.alert_state`` (``run.py``), so an on-demand run between
two ticks never makes the next tick announce a transition again. The cursor returned to
Dagster is a copy for the UI, read back only before the shared state exists.
"""

from datetime import UTC, datetime

from dagster import DefaultSensorStatus, SensorEvaluationContext, SensorResult, sensor

from adinsights_pipelines.defs.alerts.run import evaluate_locked
from adinsights_pipelines.defs.resources import AlertChannelsResource, WarehouseResource

ALERT_SENSOR_INTERVAL_SECONDS = 60


@sensor(
    name="adinsights_alerts",
    minimum_interval_seconds=ALERT_SENSOR_INTERVAL_SECONDS,
    default_status=DefaultSensorStatus.RUNNING,
    description=(
        "Freshness per asset and tenant, snapshot staleness (with escalation), failed asset "
        "checks, failed runs, connection failures and the API error rate: one Slack / email "
        "alert per state change, a resolved alert on recovery."
    ),
)
def alert_sensor(
    context: SensorEvaluationContext,
    warehouse: WarehouseResource,
    alert_channels: AlertChannelsResource,
) -> SensorResult:
    repository = context.repository_def
    assert repository is not None, "the alert sensor runs inside its code location"
    evaluation = evaluate_locked(
        context.instance,
        warehouse.engine(),
        repository.asset_graph,
        alert_channels.channels(),
        datetime.now(UTC),
        metrics_urls=alert_channels.metrics_urls(),
        ui_url=alert_channels.ui_url(),
        fallback_cursor=context.cursor,
        webhook_silence_window=alert_channels.webhook_silence_window(),
    )
    context.log.info(evaluation.summary())
    return SensorResult(cursor=evaluation.cursor, skip_reason=evaluation.summary())
