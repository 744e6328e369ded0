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
from adinsights_pipelines.tenant_store import add_tenant
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
        with build_sensor_context(
            instance=instance, resources={"warehouse": WarehouseResource()}
        ) as context:
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


def test_every_tenant_schedule_requests_one_keyed_run_per_tenant(tmp_path, monkeypatch) -> None:
    from dagster import DagsterInstance, build_schedule_context

    from adinsights_pipelines.definitions import defs
    from adinsights_pipelines.defs.meta.definitions import meta_sync_hourly

    # Dagster re-checks each request's partition key in the instance (a query on new
    # connections per tenant) unless the request carries its partition tag: count the checks.
    lookups: list[str] = []
    has_dynamic_partition = DagsterInstance.has_dynamic_partition

    def counted(self: DagsterInstance, name: str, key: str) -> bool:
        lookups.append(key)
        return has_dynamic_partition(self, name, key)

    monkeypatch.setattr(DagsterInstance, "has_dynamic_partition", counted)
    with DagsterInstance.local_temp(str(tmp_path)) as instance:
        instance.add_dynamic_partitions("tenant", ["acme", "globex"])
        with build_schedule_context(
            instance=instance, repository_def=defs.get_repository_def()
        ) as context:
            result = meta_sync_hourly.evaluate_tick(context)
    requests = result.run_requests or []
    assert sorted(
        (r.partition_key, r.run_key, r.tags["tenant_id"], r.tags["dagster/partition"])
        for r in requests
    ) == [("acme", "acme", "acme", "acme"), ("globex", "globex", "globex", "globex")]
    assert lookups == []
