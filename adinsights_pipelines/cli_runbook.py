"""The on-call commands: ``alerts run``, ``run-dbt``, ``tenants purge``.

Registered on the ``adinsights`` group in ``cli.py``; each body parses, calls one use case and
prints its answer.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import click

from adinsights_pipelines.errors import AdinsightsError


def _progress(message: str) -> None:
    from adinsights_pipelines.cli import progress

    progress(message)


@click.group()
def alerts() -> None:
    """Alert evaluation on demand."""


@alerts.command("run")
@click.option("--tenant-id", help="Show only this tenant's results (every rule is evaluated).")
@click.option("--json", "as_json", is_flag=True, help="Print the evaluation as JSON.")
def alerts_run(tenant_id: str | None, as_json: bool) -> None:
    """Evaluate every alert rule now (as the sensor does) and deliver any transitions."""
    from adinsights_pipelines.bootstrap import bootstrap
    from adinsights_pipelines.definitions import defs
    from adinsights_pipelines.defs.alerts.run import render_results, run_alerts_now
    from adinsights_pipelines.defs.resources import AlertChannelsResource
    from adinsights_pipelines.instance import get_instance
    from adinsights_pipelines.tenants import require_tenant
    from adinsights_pipelines.warehouse.database import engine

    rt = bootstrap()
    eng = engine(rt.db)
    if tenant_id:
        with eng.connect() as conn:
            require_tenant(conn, tenant_id)
    resource = AlertChannelsResource()
    channels = resource.channels()
    if not channels:
        _progress("no alert channel configured (ADINSIGHTS_ALERT_*): evaluating without delivery")
    result = run_alerts_now(
        get_instance(),
        eng,
        defs.resolve_asset_graph(),
        channels,
        datetime.now(UTC),
        actor="cli",
        min_interval_seconds=rt.settings.alerts_run_min_interval_seconds,
        tenant_id=tenant_id,
        metrics_urls=resource.metrics_urls(),
        ui_url=resource.ui_url(),
        webhook_silence_window=resource.webhook_silence_window(),
    )
    click.echo(json.dumps(result.as_json(), indent=2) if as_json else render_results(result))
    if result.delivery_failed:
        raise AdinsightsError(
            "alert delivery failed ("
            + "; ".join(f"{k}: {v}" for k, v in sorted(result.delivery_failed.items()))
            + "); the sensor retries on its next tick"
        )


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

    rt = bootstrap(_progress)
    outcome = run_dbt(
        get_instance(),
        select=select,
        full=full,
        log_dir=rt.settings.data_dir / "logs",
        progress=_progress,
    )
    if not outcome.success:
        raise AdinsightsError(
            f"{outcome.error} (run {outcome.run_id}; dbt output in {outcome.log_path})"
        )
    click.echo(
        f"dbt_build run {outcome.run_id} succeeded: {len(outcome.materialized)} of "
        f"{outcome.selected} dbt assets built ({outcome.scope})"
    )


@click.command("purge")
@click.argument("tenant_id")
@click.option(
    "--export",
    "export_url",
    help="Where the export goes (any fsspec URL); default: as retention "
    "(ADINSIGHTS_AUDIT_EXPORT_URL or <data dir>/exports).",
)
@click.option("--dry-run", is_flag=True, help="Print the rows per table; change nothing.")
@click.option("--yes", is_flag=True, help="Do not ask for the typed confirmation.")
def tenants_purge(tenant_id: str, export_url: str | None, dry_run: bool, yes: bool) -> None:
    """Export, then delete every row of a deactivated TENANT_ID; shred its keys; audited."""
    from adinsights_pipelines.bootstrap import bootstrap
    from adinsights_pipelines.instance import get_instance
    from adinsights_pipelines.retention import export_destination
    from adinsights_pipelines.tenant_purge import purge_tenant, render_counts
    from adinsights_pipelines.warehouse.database import engine

    rt = bootstrap()
    eng = engine(rt.db)
    destination = export_url or export_destination(rt.settings)
    planned = purge_tenant(eng, None, tenant_id, destination=destination, dry_run=True)
    click.echo(render_counts(planned))
    if dry_run:
        click.echo(f"dry run: nothing exported or deleted ({planned.total:,} rows would be)")
        return
    if not yes:
        typed = click.prompt(
            f"This deletes every row of {tenant_id} after exporting it to {destination}. "
            "Type the tenant id to confirm",
            default="",
            show_default=False,
            err=True,
        )
        if typed.strip() != tenant_id:
            raise AdinsightsError("confirmation did not match the tenant id; nothing purged")
    report = purge_tenant(
        eng, get_instance(), tenant_id, destination=destination, progress=_progress
    )
    click.echo(
        f"tenant {tenant_id} purged: {sum(report.deleted.values()):,} rows deleted from "
        f"{sum(1 for v in report.deleted.values() if v)} tables; export in {report.destination}; "
        "its credentials and data keys are destroyed"
    )
