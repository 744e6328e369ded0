"""dbt models as Dagster assets; dbt tests as asset checks (blocking where severity is error).

The manifest is read when the assets are first asked for, not when this module is imported:
``MANIFEST``, ``dbt_models`` and the ``STATIC_*`` values are built on first access (a module
``__getattr__``, :pep:`562`), after :func:`~adinsights_pipelines.defs.dbt.project.prepare_manifest`
re-parsed the project if a file of it changed since. So importing a helper of this module (the
translator, ``failed_nodes``) parses nothing, and a model added in a dev checkout is an asset on
the next load.
"""

import hashlib
import os
import shutil
from collections.abc import Callable, Iterator, Mapping
from functools import cache
from typing import TYPE_CHECKING, Any

from dagster import (
    AssetCheckKey,
    AssetExecutionContext,
    AssetKey,
    AssetsDefinition,
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
from adinsights_pipelines.defs.dbt.runner import (
    keep_partial_parse_state,
    stream_with_table_metadata,
)
from adinsights_pipelines.defs.resources import WarehouseResource


@cache
def current_manifest() -> dict[str, Any]:
    """The project's manifest, parsed again first when missing or stale (read once)."""
    dbt_project.prepare_if_dev()
    prepare_manifest()
    return load_manifest()


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


#: Run tag: the fingerprint of the view and seed definitions a full build built.
STATIC_TAG = "adinsights/dbt-static"
#: Run tag: ``full`` (every node) or ``incremental`` (views and seeds left as they are).
SCOPE_TAG = "adinsights/dbt-scope"


def static_nodes(manifest: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """Seeds and view models of our project: rebuilt only when their definitions change."""
    return [
        node
        for node in manifest["nodes"].values()
        if node["package_name"] == manifest["metadata"]["project_name"]
        and (
            node["resource_type"] == "seed"
            or (node["resource_type"] == "model" and node["config"]["materialized"] == "view")
        )
    ]


def static_tests(manifest: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """Tests that read no source, only seeds and views over them (the parish lookups): their
    result can change only with the static fingerprint, so a 15-minute build skips them."""
    nodes = manifest["nodes"]
    reads_source: dict[str, bool] = {}

    def from_sources(uid: str) -> bool:
        if uid not in reads_source:
            parents = nodes[uid].get("depends_on", {}).get("nodes", []) if uid in nodes else []
            reads_source[uid] = uid.startswith("source.") or any(map(from_sources, parents))
        return reads_source[uid]

    return [
        node
        for uid, node in nodes.items()
        if node["resource_type"] == "test" and node.get("attached_node") and not from_sources(uid)
    ]


def static_check_keys(manifest: Mapping[str, Any]) -> frozenset[AssetCheckKey]:
    """The asset checks of ``static_tests`` (dagster-dbt names a test's check after the test)."""
    nodes = manifest["nodes"]
    return frozenset(
        AssetCheckKey(translator.get_asset_key(nodes[test["attached_node"]]), test["name"])
        for test in static_tests(manifest)
    )


def static_fingerprint(manifest: Mapping[str, Any]) -> str:
    """A hash of what a view or seed is built from (their files and our project's macros) and
    of the tests that read only them."""
    digest = hashlib.sha256()
    for node in sorted(static_nodes(manifest), key=lambda n: n["unique_id"]):
        digest.update(f"{node['unique_id']}={node['checksum']['checksum']}\n".encode())
    # a test's id ends in a hash of its arguments: an added or edited test on them counts
    for uid in sorted(node["unique_id"] for node in static_tests(manifest)):
        digest.update(f"{uid}\n".encode())
    project = manifest["metadata"]["project_name"]
    for uid, macro in sorted(manifest["macros"].items()):
        if macro["package_name"] == project:
            digest.update(f"{uid}={macro['macro_sql']}\n".encode())
    return digest.hexdigest()[:16]


@cache
def current_static_keys() -> frozenset[AssetKey]:
    return frozenset(translator.get_asset_key(node) for node in static_nodes(current_manifest()))


@cache
def current_static_fingerprint() -> str:
    return static_fingerprint(current_manifest())


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


def _build(
    context: AssetExecutionContext, dbt: DbtCliResource, warehouse: WarehouseResource
) -> Iterator[Any]:
    # dbt's process gets this process's environment.
    os.environ.update(dbt_environment(warehouse.database()))
    tags = {DBT_RUN_TAG: DBT_RUN_TAG_VALUE}
    if current_static_keys() & context.selected_asset_keys:
        # this run (re)builds views or seeds: from these definitions (definitions.py's schedule)
        tags[STATIC_TAG] = current_static_fingerprint()
    context.instance.add_run_tags(context.run_id, tags)
    invocation = dbt.cli(["build"], context=context, raise_on_error=False)
    run_results: dict[str, Any] | None = None
    try:
        # Row counts: one count(*) per table built (views are skipped). Column metadata: the
        # relation's columns; column lineage is left off (sqlglot re-parses every model).
        yield from stream_with_table_metadata(invocation)
    finally:
        keep_partial_parse_state(invocation)
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


@cache
def build_dbt_models() -> AssetsDefinition:
    """Every node of the manifest as an asset (models, seeds) or a check (tests)."""

    @dbt_assets(manifest=current_manifest(), project=dbt_project, dagster_dbt_translator=translator)
    def dbt_models(
        context: AssetExecutionContext, dbt: DbtCliResource, warehouse: WarehouseResource
    ) -> Iterator[Any]:
        yield from _build(context, dbt, warehouse)

    return dbt_models


#: Names whose values come from the manifest, built on first access.
_FROM_MANIFEST: dict[str, Callable[[], Any]] = {
    "MANIFEST": current_manifest,
    "dbt_models": build_dbt_models,
    "STATIC_FINGERPRINT": current_static_fingerprint,
    "STATIC_KEYS": current_static_keys,
    "STATIC_CHECK_KEYS": lambda: static_check_keys(current_manifest()),
}

if TYPE_CHECKING:
    MANIFEST: dict[str, Any]
    dbt_models: AssetsDefinition
    STATIC_FINGERPRINT: str
    STATIC_KEYS: frozenset[AssetKey]
    STATIC_CHECK_KEYS: frozenset[AssetCheckKey]


def __getattr__(name: str) -> Any:
    if name in _FROM_MANIFEST:
        return _FROM_MANIFEST[name]()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
