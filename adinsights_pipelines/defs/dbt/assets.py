"""dbt models as Dagster assets; dbt tests as asset checks."""

import os
from collections.abc import Iterator, Mapping
from typing import Any

from dagster import AssetExecutionContext, AssetKey
from dagster_dbt import (
    DagsterDbtTranslator,
    DagsterDbtTranslatorSettings,
    DbtCliResource,
    dbt_assets,
)

from adinsights_pipelines.defs.dbt.project import dbt_project, prepare_manifest
from adinsights_pipelines.defs.resources import WarehouseResource

dbt_project.prepare_if_dev()
prepare_manifest()


class AdinsightsDbtTranslator(DagsterDbtTranslator):
    """Owns how every dbt node appears in Dagster: keys, groups and owners.

    Keys are the model names (``fct_ad_performance_daily``); sources resolve to the ingestion
    assets named in their ``meta.dagster.asset_key``.
    """

    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> AssetKey:
        if dbt_resource_props["resource_type"] in ("model", "seed", "snapshot"):
            return AssetKey(dbt_resource_props["name"])
        return super().get_asset_key(dbt_resource_props)

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        if dbt_resource_props["resource_type"] == "seed":
            return "dbt_seeds"
        fqn = dbt_resource_props.get("fqn", [])
        layer = fqn[1] if len(fqn) > 2 else "models"
        return f"dbt_{layer}"

    def get_owners(self, dbt_resource_props: Mapping[str, Any]) -> list[str]:
        return ["team:data-engineering"]


translator = AdinsightsDbtTranslator(
    settings=DagsterDbtTranslatorSettings(enable_asset_checks=True)
)


@dbt_assets(
    manifest=dbt_project.manifest_path, project=dbt_project, dagster_dbt_translator=translator
)
def dbt_models(
    context: AssetExecutionContext, dbt: DbtCliResource, warehouse: WarehouseResource
) -> Iterator[Any]:
    # dbt reads its connection from ADINSIGHTS_DBT_* (profiles.yml); dagster-dbt passes this
    # process's environment to the dbt subprocess.
    os.environ.update(warehouse.database().dbt_env())
    yield from dbt.cli(["build"], context=context).stream()
