"""The alert sensor: a thin wrapper that runs one evaluation per tick (about every 60 s)."""

from datetime import UTC, datetime

from dagster import DefaultSensorStatus, SensorEvaluationContext, SensorResult, sensor

from adinsights_pipelines.defs.alerts.evaluate import evaluate_alerts
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
    evaluation = evaluate_alerts(
        context.instance,
        warehouse.engine(),
        repository.asset_graph,
        context.cursor,
        alert_channels.channels(),
        datetime.now(UTC),
        metrics_urls=alert_channels.metrics_urls(),
        ui_url=alert_channels.ui_url(),
    )
    context.log.info(evaluation.summary())
    return SensorResult(cursor=evaluation.cursor, skip_reason=evaluation.summary())
