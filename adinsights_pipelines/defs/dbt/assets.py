"""dbt models as Dagster assets; dbt tests as asset checks (blocking where severity is error)."""

import os
import shutil
from collections.abc import Iterator, Mapping
from typing import Any

from dagster import (
    AssetExecutionContext,
    AssetKey,
    AutomationCondition,
    Failure,
    MetadataValue,
)
from dagster_dbt import (
    DagsterDbtTranslator,
    DagsterDbtTranslatorSettings,
    DbtCliInvocation,
    DbtCliResource,
    dbt_assets,
)

from adinsights_pipelines.defs.dbt.project import (
    dbt_environment,
    dbt_project,
    load_manifest,
    prepare_manifest,
)
from adinsights_pipelines.defs.dbt.results import (
    DBT_RESULTS_TAG,
    DBT_RUN_TAG,
    DBT_RUN_TAG_VALUE,
    encode,
    summarize_run_results,
    unreadable_results,
)
from adinsights_pipelines.defs.resources import WarehouseResource

dbt_project.prepare_if_dev()
prepare_manifest()

#: Statuses in run_results.json that make a dbt node a failure.
FAILED_STATUSES = ("error", "fail", "runtime error")


class AdinsightsDbtTranslator(DagsterDbtTranslator):
    """Owns how every dbt node appears in Dagster: keys, groups, owners and automation.

    - keys: the model or seed name (``fct_ad_performance_daily``); sources resolve to the
      ingestion assets named in their ``meta.dagster.asset_key`` (``meta_insights``,
      ``google_ads_campaign_performance``, ``ga4_daily``, ...);
    - groups: ``dbt_staging``, ``dbt_marts``, ``dbt_seeds`` (the folder under models/);
    - owners: the data-engineering team;
    - automation: none on the assets. dbt runs as one ``dbt build`` from the
      ``dbt_build_every_15_minutes`` schedule: the run is what ``/api/health/dbt/`` and
      ``dbt_run_duration_seconds`` report on, and an automation condition per model would start
      partial builds whenever some tenant's ingestion lands, every few minutes.
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

    def get_automation_condition(
        self, dbt_resource_props: Mapping[str, Any]
    ) -> AutomationCondition | None:
        return None


translator = AdinsightsDbtTranslator(
    settings=DagsterDbtTranslatorSettings(
        enable_asset_checks=True,
        # One ingestion asset writes several raw tables (meta_hierarchy: campaigns, ad sets,
        # ads), so several dbt sources map to the same asset key.
        enable_duplicate_source_asset_keys=True,
    )
)


def failed_nodes(run_results: Mapping[str, Any]) -> list[str]:
    """Names of the failed nodes (unique ids ``<type>.adinsights.<name>[.<hash>]``)."""
    return sorted(
        [*str(r.get("unique_id", "")).split("."), "", "", "?"][2]
        for r in run_results.get("results", [])
        if r.get("status") in FAILED_STATUSES
    )


def _run_results(invocation: DbtCliInvocation) -> dict[str, Any] | None:
    try:
        return dict(invocation.get_artifact("run_results.json"))
    except (OSError, ValueError):
        return None


@dbt_assets(manifest=load_manifest(), project=dbt_project, dagster_dbt_translator=translator)
def dbt_models(
    context: AssetExecutionContext, dbt: DbtCliResource, warehouse: WarehouseResource
) -> Iterator[Any]:
    # dagster-dbt passes this process's environment to the dbt subprocess.
    os.environ.update(dbt_environment(warehouse.database()))
    context.instance.add_run_tags(context.run_id, {DBT_RUN_TAG: DBT_RUN_TAG_VALUE})
    invocation = dbt.cli(["build"], context=context, raise_on_error=False)
    run_results: dict[str, Any] | None = None
    try:
        # Row counts: one count(*) per table built (views are skipped). Column metadata: the
        # relation's columns; column lineage is left off (sqlglot re-parses every model).
        yield from (
            invocation.stream().fetch_row_counts().fetch_column_metadata(with_column_lineage=False)
        )
    finally:
        run_results = _run_results(invocation)
        summary = (
            summarize_run_results(run_results)
            if run_results is not None
            else unreadable_results("dbt wrote no run_results.json")
        )
        context.instance.add_run_tags(context.run_id, {DBT_RESULTS_TAG: encode(summary)})

    if not invocation.is_successful():
        failed = failed_nodes(run_results or {})
        raise Failure(
            description=(
                f"dbt build failed: {len(failed)} nodes ({', '.join(failed[:10])})"
                if failed
                else "dbt build failed before running any node (see the dbt logs in the run)"
            ),
            metadata={"failed_nodes": MetadataValue.json(failed)},
        )
    # Each invocation writes its artifacts to a folder of its own; keep only failed ones.
    shutil.rmtree(invocation.target_path, ignore_errors=True)
