"""``adinsights sync-airbyte`` and ``adinsights airbyte-connections``: tenants' sources synced
through Airbyte."""

from __future__ import annotations

import click

from adinsights_pipelines.cli.common import progress, start, sync_partitions
from adinsights_pipelines.defs.airbyte.providers import PROVIDERS_BY_NAME
from adinsights_pipelines.errors import AdinsightsError


@click.command("sync-airbyte")
@click.option("--tenant", "tenant_id", help="Sync this tenant only (default: every active tenant).")
def sync_airbyte_command(tenant_id: str | None) -> None:
    """Sync tenants' Airbyte connections now (Google Ads, ...), recorded in Dagster and audited."""
    from adinsights_pipelines.bootstrap import bootstrap
    from adinsights_pipelines.defs.airbyte.manual import sync_all

    rt = bootstrap()
    instance = sync_partitions(rt)
    done = sync_all(rt.db, instance, tenant_id, progress)
    failed = [d for d in done if not d.succeeded]
    if failed:
        first = failed[0]
        raise AdinsightsError(
            f"{len(failed)} of {len(done)} Airbyte syncs failed; "
            f"{first.tenant_id} {first.provider}: {first.error}"
        )
    jobs = sum(len(d.jobs) for d in done)
    click.echo(f"synced {len(done)} tenant connection group(s): {jobs} Airbyte job(s) succeeded")


@click.group("airbyte-connections")
def airbyte_connections() -> None:
    """Register tenants' Airbyte connections (the connection must exist in Airbyte)."""


@airbyte_connections.command("add")
@click.option("--tenant-id", required=True)
@click.option("--provider", type=click.Choice(sorted(PROVIDERS_BY_NAME)), required=True)
@click.option("--connection-id", required=True, help="The Airbyte connection's UUID.")
@click.option(
    "--source-account-id",
    required=True,
    help="The source's account: for google_ads the customer id (123-456-7890).",
)
@click.option(
    "--interval-minutes",
    type=click.IntRange(1, 7 * 24 * 60),
    default=60,
    show_default=True,
    help="Scheduled syncs start when this long has passed since the last job.",
)
def airbyte_connections_add(
    tenant_id: str,
    provider: str,
    connection_id: str,
    source_account_id: str,
    interval_minutes: int,
) -> None:
    """Register (or update and reactivate) a tenant's connection."""
    from adinsights_pipelines.services.airbyte_connections import add_airbyte_connection

    _, eng = start()
    with eng.begin() as conn:
        registered, created = add_airbyte_connection(
            conn,
            tenant_id,
            provider,
            connection_id,
            source_account_id,
            interval_minutes=interval_minutes,
            actor="cli",
        )
    verb = "registered" if created else "updated"
    click.echo(f"{provider} connection {registered} {verb} for {tenant_id}")


@airbyte_connections.command("list")
@click.option("--tenant-id", help="Only this tenant's connections.")
def airbyte_connections_list(tenant_id: str | None) -> None:
    """List registered connections with their last job."""
    from adinsights_pipelines.defs.airbyte.store import list_connections

    _, eng = start()
    with eng.connect() as conn:
        listed = list_connections(conn, tenant_id)
    click.echo(
        f"{'CONNECTION':<37} {'TENANT':<24} {'PROVIDER':<11} {'ACCOUNT':<12} {'EVERY':>6} "
        f"{'STATE':<9} LAST JOB"
    )
    for item in listed:
        c = item.connection
        last = (
            f"{item.last_job_id} {item.last_job_status} {item.last_job_at:%Y-%m-%d %H:%M}"
            if item.last_job_id is not None and item.last_job_at is not None
            else "-"
        )
        state = "active" if c.is_active else "inactive"
        click.echo(
            f"{c.connection_id:<37} {c.tenant_id:<24} {c.provider:<11} "
            f"{c.source_account_id or '-':<12} {c.sync_interval_minutes:>5}m {state:<9} {last}"
        )


@airbyte_connections.command("deactivate")
@click.argument("connection_id")
def airbyte_connections_deactivate(connection_id: str) -> None:
    """Stop syncing CONNECTION_ID (its jobs and data are kept)."""
    from adinsights_pipelines.services.airbyte_connections import deactivate_airbyte_connection

    _, eng = start()
    with eng.begin() as conn:
        row = deactivate_airbyte_connection(conn, connection_id, actor="cli")
    click.echo(f"connection {row.connection_id} of {row.tenant_id} deactivated")
