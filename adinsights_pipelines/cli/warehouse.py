"""The warehouse's upkeep: ``migrate``, ``run-dbt``, ``dbt-freshness``, ``snapshot-metrics``
and ``retention``."""

from __future__ import annotations

import click

from adinsights_pipelines.cli.common import progress, start, sync_partitions
from adinsights_pipelines.errors import AdinsightsError


@click.command()
def migrate() -> None:
    """Bring the warehouse schema to the newest migration (a no-op when current)."""
    from adinsights_pipelines.bootstrap import bootstrap

    bootstrap(progress)


@click.command("run-dbt")
@click.option(
    "--select",
    help="dbt selection syntax (e.g. stg_meta__insights+, tag:marts); default: the whole build.",
)
@click.option(
    "--full", is_flag=True, help="Every node, views and seeds too (default: as the schedule)."
)
def run_dbt_command(select: str | None, full: bool) -> None:
    """Run the dbt_build job now through Dagster (it shows in the UI), with progress."""
    from adinsights_pipelines.bootstrap import bootstrap
    from adinsights_pipelines.defs.dbt.manual import run_dbt
    from adinsights_pipelines.instance import get_instance

    rt = bootstrap(progress)
    outcome = run_dbt(
        get_instance(),
        select=select,
        full=full,
        log_dir=rt.settings.data_dir / "logs",
        progress=progress,
    )
    if not outcome.success:
        raise AdinsightsError(
            f"{outcome.error} (run {outcome.run_id}; dbt output in {outcome.log_path})"
        )
    click.echo(
        f"dbt_build run {outcome.run_id} succeeded: {len(outcome.materialized)} of "
        f"{outcome.selected} dbt assets built ({outcome.scope})"
    )


@click.command("dbt-freshness")
@click.option(
    "--warn-hours",
    type=click.IntRange(min=1),
    help="Override dbt var freshness_warn_hours (default 2; dev/CI on simulated data: larger).",
)
@click.option(
    "--error-hours",
    type=click.IntRange(min=1),
    help="Override dbt var freshness_error_hours (default 4).",
)
@click.option(
    "--select",
    "selectors",
    multiple=True,
    help="dbt selection, e.g. source:meta (repeatable). Default: every source.",
)
def dbt_freshness(warn_hours: int | None, error_hours: int | None, selectors: tuple[str]) -> None:
    """Run `dbt source freshness` on the raw tables and summarise it.

    Exits non-zero when a source is older than the error threshold.
    """
    from adinsights_pipelines.bootstrap import bootstrap
    from adinsights_pipelines.defs.dbt.source_freshness import freshness_table, run_source_freshness

    rt = bootstrap()
    progress("running dbt source freshness")
    results = run_source_freshness(
        rt.db, warn_hours=warn_hours, error_hours=error_hours, select=selectors
    )
    click.echo(freshness_table(results))
    stale = [r.source for r in results if r.is_error]
    if stale:
        raise AdinsightsError(f"{len(stale)} sources past the error threshold: {', '.join(stale)}")


@click.command("snapshot-metrics")
@click.option("--tenant-id", help="Rebuild this tenant's snapshot only (default: every tenant).")
def snapshot_metrics(tenant_id: str | None) -> None:
    """Rebuild metrics snapshots now (each one a Dagster run of metrics_snapshots)."""
    from adinsights_pipelines.defs.snapshots.refresh import refresh_snapshots
    from adinsights_pipelines.tenant_store import active_tenant_ids, require_tenant

    rt, eng = start(progress)
    with eng.connect() as conn:
        if tenant_id:
            require_tenant(conn, tenant_id)
            tenant_ids = [tenant_id]
        else:
            tenant_ids = active_tenant_ids(conn)
    if not tenant_ids:
        raise AdinsightsError("no active tenants: add one with `adinsights tenants add`")
    instance = sync_partitions(rt)
    outcomes = refresh_snapshots(instance, tenant_ids, progress)
    failed = [o for o in outcomes if not o.ok]
    click.echo(f"rebuilt {len(outcomes) - len(failed)} of {len(outcomes)} metrics snapshots")
    if failed:
        first = failed[0]
        raise AdinsightsError(
            f"{len(failed)} snapshot(s) failed ({', '.join(o.tenant_id for o in failed)}); "
            f"{first.tenant_id}: {first.error} (run {first.run_id})"
        )


@click.command()
@click.option("--dry-run", is_flag=True, help="Count what would be exported and deleted.")
def retention(dry_run: bool) -> None:
    """Export audit-log rows older than the retention window, verify, then delete them."""
    from adinsights_pipelines.audit_retention import run_retention

    report = run_retention(dry_run=dry_run)
    if dry_run:
        click.echo(
            f"would export and delete {report.exported} audit rows older than "
            f"{report.cutoff:%Y-%m-%d}"
        )
    else:
        where = f" to {report.destination}" if report.destination else ""
        click.echo(
            f"exported {report.exported} and deleted {report.deleted} audit rows older "
            f"than {report.cutoff:%Y-%m-%d}{where}"
        )
