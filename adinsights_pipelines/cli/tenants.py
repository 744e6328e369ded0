"""``adinsights tenants``: add, list, update, deactivate and purge tenants (agency clients)."""

from __future__ import annotations

import click

from adinsights_pipelines.cli.common import progress, start, sync_partitions
from adinsights_pipelines.errors import AdinsightsError


@click.group()
def tenants() -> None:
    """Manage tenants (agency clients)."""


@tenants.command("add")
@click.argument("tenant_id")
@click.option("--name", required=True, help="Display name.")
@click.option(
    "--reporting-currency",
    help="ISO 4217 currency the tenant's totals are converted to (default JMD for a new tenant).",
)
def tenants_add(tenant_id: str, name: str, reporting_currency: str | None) -> None:
    """Create (or reactivate) TENANT_ID and its Dagster partition."""
    from adinsights_pipelines.services import tenant_onboarding

    rt, eng = start(progress)
    with eng.begin() as conn:
        created = tenant_onboarding.add_tenant(
            conn, tenant_id, name, reporting_currency, actor="cli"
        )
    sync_partitions(rt)
    click.echo(f"tenant {tenant_id} {'created' if created else 'updated'}")


@tenants.command("deactivate")
@click.argument("tenant_id")
def tenants_deactivate(tenant_id: str) -> None:
    """Stop syncing TENANT_ID (its data is kept) and remove its Dagster partition."""
    from adinsights_pipelines.services import tenant_onboarding

    rt, eng = start()
    with eng.begin() as conn:
        tenant_onboarding.deactivate_tenant(conn, tenant_id, actor="cli")
    sync_partitions(rt)
    click.echo(f"tenant {tenant_id} deactivated")


@tenants.command("list")
def tenants_list() -> None:
    """List tenants."""
    from adinsights_pipelines.tenant_store import list_tenants

    _, eng = start()
    with eng.connect() as conn:
        rows = list_tenants(conn)
    click.echo(f"{'TENANT':<24} {'STATUS':<9} {'CREATED':<20} {'CURRENCY':<9} NAME")
    for t in rows:
        click.echo(
            f"{t.id:<24} {t.status:<9} {t.created_at:%Y-%m-%d %H:%M:%S}  "
            f"{t.reporting_currency:<9} {t.name}"
        )


@tenants.command("update")
@click.argument("tenant_id")
@click.option("--name", help="New display name.")
@click.option(
    "--reporting-currency",
    help="ISO 4217 currency the tenant's totals are converted to (dbt re-converts its history).",
)
@click.option(
    "--conversion-events",
    help="Meta events counted as conversions, comma-separated (purchase,lead,"
    "offsite_conversion.custom.<id>; 'default': the global definition); stored rows are "
    "counted again.",
)
@click.option(
    "--attribution",
    help="Meta attribution: 'unified' (each ad set's own setting, Meta's default) or one click "
    "and at most one view window, e.g. 7d_click,1d_view; stored history is re-read.",
)
@click.option(
    "--action-report-time",
    type=click.Choice(["impression", "conversion", "mixed"]),
    help="Report conversions on the day of the impression (default) or of the conversion.",
)
def tenants_update(tenant_id: str, **settings: str | None) -> None:
    """Change TENANT_ID's name, reporting currency, conversion definition or attribution
    setting (audited)."""
    from adinsights_pipelines.cli.meta import recount_conversions, reread_attribution
    from adinsights_pipelines.services import tenant_onboarding

    if all(value is None for value in settings.values()):
        raise AdinsightsError(
            "nothing to change: pass --name, --reporting-currency, --conversion-events, "
            "--attribution and/or --action-report-time"
        )
    rt, eng = start()
    with eng.begin() as conn:
        changes = tenant_onboarding.update_tenant(conn, tenant_id, actor="cli", **settings)
    if not changes:
        click.echo(f"tenant {tenant_id} unchanged")
        return
    for field, change in changes.items():
        click.echo(f"tenant {tenant_id}: {field} {change['from']} -> {change['to']}")
    if "reporting_currency" in changes:
        click.echo("the next dbt run re-converts the tenant's history; then its snapshot follows")
    if "meta_attribution" in changes:
        reread_attribution(eng, rt, tenant_id)
    elif "meta_conversion_events" in changes:
        recount_conversions(eng, rt, tenant_id, changes["meta_conversion_events"]["to"])


@tenants.command("purge")
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
    from adinsights_pipelines.audit_retention import export_destination
    from adinsights_pipelines.instance import get_instance
    from adinsights_pipelines.tenant_purge import purge_tenant, render_counts

    rt, eng = start()
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
        eng, get_instance(), tenant_id, destination=destination, progress=progress
    )
    click.echo(
        f"tenant {tenant_id} purged: {sum(report.deleted.values()):,} rows deleted from "
        f"{sum(1 for v in report.deleted.values() if v)} tables; export in {report.destination}; "
        "its credentials and data keys are destroyed"
    )
