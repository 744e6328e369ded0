from dagster import Definitions

from adinsights_pipelines.defs.tenants.sensors import tenant_partitions_sensor

defs = Definitions(sensors=[tenant_partitions_sensor])
