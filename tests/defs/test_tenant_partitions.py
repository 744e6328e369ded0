import sqlalchemy as sa
from dagster import (
    AddDynamicPartitionsRequest,
    DagsterInstance,
    SensorResult,
    build_sensor_context,
)

from adinsights_pipelines.defs.resources import WarehouseResource
from adinsights_pipelines.defs.tenants.partitions import partition_changes
from adinsights_pipelines.defs.tenants.sensors import tenant_partitions_sensor
from adinsights_pipelines.tenants import add_tenant
from adinsights_pipelines.warehouse.database import Database, engine


def test_partition_changes_adds_new_and_removes_gone() -> None:
    assert partition_changes(["a1", "b2", "c3"], ["b2", "z9"]) == (["a1", "c3"], ["z9"])
    assert partition_changes(["a1"], ["a1"]) == ([], [])


def test_sensor_keeps_partitions_equal_to_active_tenants(
    instance: DagsterInstance, product_env: Database
) -> None:
    with engine(product_env).begin() as conn:
        add_tenant(conn, "tenant-a", "A")
        add_tenant(conn, "tenant-b", "B")
    instance.add_dynamic_partitions("tenant", ["gone-tenant"])

    def evaluate() -> object:
        context = build_sensor_context(
            instance=instance, resources={"warehouse": WarehouseResource()}
        )
        result = tenant_partitions_sensor(context)
        if isinstance(result, SensorResult):
            for request in result.dynamic_partitions_requests or []:
                if isinstance(request, AddDynamicPartitionsRequest):
                    instance.add_dynamic_partitions(
                        request.partitions_def_name, list(request.partition_keys)
                    )
                else:
                    for key in request.partition_keys:
                        instance.delete_dynamic_partition(request.partitions_def_name, key)
        return result

    assert isinstance(evaluate(), SensorResult)
    assert sorted(instance.get_dynamic_partitions("tenant")) == ["tenant-a", "tenant-b"]

    with engine(product_env).begin() as conn:
        conn.execute(sa.text("update app.tenants set status = 'inactive' where id = 'tenant-b'"))
    evaluate()
    assert instance.get_dynamic_partitions("tenant") == ["tenant-a"]
    assert not isinstance(evaluate(), SensorResult)  # nothing left to change: skipped
