from dagster import Definitions

from adinsights_pipelines.defs.alerts.sensor import alert_sensor

defs = Definitions(sensors=[alert_sensor])
