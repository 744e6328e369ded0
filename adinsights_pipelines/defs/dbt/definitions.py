"""The ``dbt_build`` job and its 15-minute schedule.

A 15-minute tick rebuilds what data changes: the incremental and table models, with every dbt
test and data-contract check on them, and the tests on the staging views that read raw rows
(they guard what each model reads). Views and seeds change only when the project does, and so
do the tests that read nothing else (the parish lookups'), so a tick rebuilds and re-tests
them (a full ``dbt_build``, every node) only when they were not yet built from this code:
their definitions' fingerprint is a tag on every run that builds them (``dbt_models``).
A deploy that changes a view or seed therefore gets a full build on its first tick.
"""

from __future__ import annotations

from dagster import (
    AssetCheckKey,
    AssetKey,
    AssetSelection,
    DagsterInstance,
    Definitions,
    RepositoryDefinition,
    RunRequest,
    RunsFilter,
    ScheduleEvaluationContext,
    define_asset_job,
)
from dagster_dbt import DbtCliResource

from adinsights_pipelines.defs.dbt.assets import (
    SCOPE_TAG,
    STATIC_CHECK_KEYS,
    STATIC_FINGERPRINT,
    STATIC_KEYS,
    STATIC_TAG,
    dbt_models,
)
from adinsights_pipelines.defs.dbt.project import dbt_project
from adinsights_pipelines.defs.tenants.partitions import scheduled_in_jamaica

# The dbt assets and every check on them: dbt tests, and the data contracts of defs/contracts/.
dbt_build_job = define_asset_job(
    "dbt_build",
    selection=AssetSelection.assets(dbt_models),
    description="dbt build (all models and tests), then the data-contract checks on the marts.",
)


def static_models_current(instance: DagsterInstance) -> bool:
    """Whether every view and seed was last built by a run of this code's fingerprint."""
    latest = instance.get_latest_materialization_events(list(STATIC_KEYS))
    if len(latest) < len(STATIC_KEYS) or None in latest.values():
        return False
    run_ids = {event.run_id for event in latest.values() if event is not None}
    tagged = instance.get_run_ids(
        RunsFilter(run_ids=list(run_ids), tags={STATIC_TAG: STATIC_FINGERPRINT})
    )
    return set(tagged) == run_ids


def checks_on_dbt_models(repository: RepositoryDefinition) -> frozenset[AssetCheckKey]:
    """Every check of ``repository`` on a dbt asset, whichever concern declares it."""
    assets_defs = repository.assets_defs_by_key.values()
    declared = [
        *(spec.key for assets_def in assets_defs for spec in assets_def.check_specs),
        *repository.asset_checks_defs_by_key,
    ]
    return frozenset(key for key in declared if key.asset_key in dbt_models.keys)


def incremental_selection(
    check_keys: frozenset[AssetCheckKey],
) -> tuple[list[AssetKey], list[AssetCheckKey]]:
    """A 15-minute build: every dbt asset but the views and seeds; every check but those that
    read only seeds (``static_tests``)."""
    assets = sorted(set(dbt_models.keys) - STATIC_KEYS, key=lambda k: k.to_user_string())
    checks = sorted(
        (key for key in check_keys if key not in STATIC_CHECK_KEYS),
        key=lambda k: (k.asset_key.to_user_string(), k.name),
    )
    return assets, checks


@scheduled_in_jamaica(
    "dbt_build_every_15_minutes",
    dbt_build_job,
    "*/15 * * * *",
    description=(
        "Every 15 minutes: the incremental and table models with their tests and contract "
        "checks (views and seeds as they are); every node when the views or seeds changed."
    ),
)
def dbt_build_schedule(context: ScheduleEvaluationContext) -> RunRequest:
    if not static_models_current(context.instance):
        return RunRequest(tags={SCOPE_TAG: "full"})
    # The code location's checks on the dbt assets (dbt tests and the data contracts): the
    # daemon evaluates a schedule with its repository on the context.
    assets, checks = incremental_selection(checks_on_dbt_models(context.repository_def))
    return RunRequest(
        asset_selection=assets,
        asset_check_keys=checks,
        tags={SCOPE_TAG: "incremental"},
    )


defs = Definitions(
    assets=[dbt_models],
    jobs=[dbt_build_job],
    schedules=[dbt_build_schedule],
    resources={
        "dbt": DbtCliResource(
            project_dir=str(dbt_project.project_dir), profiles_dir=str(dbt_project.profiles_dir)
        )
    },
)
