"""``adinsights``: the operator's command line."""

from __future__ import annotations

import sys
import time
from datetime import datetime
from pathlib import Path
from typing import TextIO

import click
import sqlalchemy.exc

from adinsights_pipelines.defs.airbyte.providers import PROVIDERS_BY_NAME as AIRBYTE_PROVIDER_NAMES
from adinsights_pipelines.errors import AdinsightsError

_started = time.monotonic()


def progress(message: str) -> None:
    click.echo(f"[{time.monotonic() - _started:6.1f}s] {message}", err=True)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def cli() -> None:
    """ADinsights Pipelines: ad-analytics data platform on Dagster."""


@cli.command()
def migrate() -> None:
    """Bring the warehouse schema to the newest migration (a no-op when current)."""
    from adinsights_pipelines.bootstrap import bootstrap

    bootstrap(progress)


@cli.group()
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
    from adinsights_pipelines.audit import record_audit
    from adinsights_pipelines.bootstrap import bootstrap
    from adinsights_pipelines.defs.resources import WarehouseResource
    from adinsights_pipelines.defs.tenants.sensors import sync_tenant_partitions
    from adinsights_pipelines.instance import get_instance
    from adinsights_pipelines.tenants import add_tenant
    from adinsights_pipelines.warehouse.database import engine

    rt = bootstrap(progress)
    with engine(rt.db).begin() as conn:
        created = add_tenant(conn, tenant_id, name, reporting_currency)
        record_audit(
            conn,
            tenant_id=tenant_id,
            actor="cli",
            action="tenant_created" if created else "tenant_reactivated",
            resource_type="tenant",
            resource_id=tenant_id,
            metadata={"reporting_currency": reporting_currency.upper()}
            if reporting_currency
            else None,
        )
    sync_tenant_partitions(get_instance(), WarehouseResource(database_url=rt.db.plain_url))
    click.echo(f"tenant {tenant_id} {'created' if created else 'updated'}")


@tenants.command("deactivate")
@click.argument("tenant_id")
def tenants_deactivate(tenant_id: str) -> None:
    """Stop syncing TENANT_ID (its data is kept) and remove its Dagster partition."""
    from adinsights_pipelines.audit import record_audit
    from adinsights_pipelines.bootstrap import bootstrap
    from adinsights_pipelines.defs.resources import WarehouseResource
    from adinsights_pipelines.defs.tenants.sensors import sync_tenant_partitions
    from adinsights_pipelines.instance import get_instance
    from adinsights_pipelines.tenants import deactivate_tenant
    from adinsights_pipelines.warehouse.database import engine

    rt = bootstrap()
    with engine(rt.db).begin() as conn:
        deactivate_tenant(conn, tenant_id)
        record_audit(
            conn,
            tenant_id=tenant_id,
            actor="cli",
            action="tenant_deactivated",
            resource_type="tenant",
            resource_id=tenant_id,
        )
    sync_tenant_partitions(get_instance(), WarehouseResource(database_url=rt.db.plain_url))
    click.echo(f"tenant {tenant_id} deactivated")


@tenants.command("list")
def tenants_list() -> None:
    """List tenants."""
    from adinsights_pipelines.bootstrap import bootstrap
    from adinsights_pipelines.tenants import list_tenants
    from adinsights_pipelines.warehouse.database import engine

    rt = bootstrap()
    with engine(rt.db).connect() as conn:
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
def tenants_update(
    tenant_id: str,
    name: str | None,
    reporting_currency: str | None,
    conversion_events: str | None,
    attribution: str | None,
    action_report_time: str | None,
) -> None:
    """Change TENANT_ID's name, reporting currency, conversion definition or attribution
    setting (audited)."""
    from adinsights_pipelines.defs.fx.commands import update_tenant_command

    update_tenant_command(
        tenant_id, name, reporting_currency, conversion_events, attribution, action_report_time
    )


@cli.group()
def credentials() -> None:
    """Manage tenants' platform credentials."""


@credentials.command("add")
@click.option("--tenant", "tenant_id", required=True)
@click.option(
    "--platform", type=click.Choice(["meta", "google_ads", "ga4", "search_console"]), required=True
)
@click.option(
    "--token-file",
    type=click.File("r"),
    default="-",
    show_default=True,
    help="Where to read the token: a file, or - for standard input (never the command line).",
)
def credentials_add(tenant_id: str, platform: str, token_file: TextIO) -> None:
    """Store a tenant's access token, encrypted under the tenant's data key.

    Meta tokens are checked first (debug_token: valid, and the scopes the contract requires) and
    exchanged for a long-lived token, which is what is stored. For ga4 and search_console give
    the Google OAuth refresh token: it is exchanged once to check it and its scopes.
    """
    from adinsights_pipelines.audit import record_audit
    from adinsights_pipelines.bootstrap import bootstrap
    from adinsights_pipelines.defs.meta.client import MetaApiError
    from adinsights_pipelines.defs.meta.onboarding import MetaApp, TokenInfo
    from adinsights_pipelines.tenants import require_tenant, set_credential
    from adinsights_pipelines.warehouse.database import engine

    token = token_file.readline().strip()
    if not token:
        raise AdinsightsError("no token given: pipe it on standard input or pass --token-file")
    rt = bootstrap()
    with engine(rt.db).connect() as conn:
        require_tenant(conn, tenant_id)
    info = TokenInfo(is_valid=True, scopes=(), expires_at=None)
    if platform == "meta":
        progress("checking the token's scopes with Meta and exchanging it for a long-lived one")
        try:
            token, info = MetaApp.from_settings(rt.settings).onboard(token)
        except MetaApiError as exc:
            raise AdinsightsError(f"Meta refused the token check: {exc}") from None
    elif platform in ("ga4", "search_console"):
        from adinsights_pipelines.defs.google.onboarding import check_refresh_token
        from adinsights_pipelines.defs.google.resources import GoogleApis

        progress("checking the refresh token and its scopes with Google")
        scopes = check_refresh_token(GoogleApis.from_settings(rt.settings), platform, token)
        info = TokenInfo(is_valid=True, scopes=scopes, expires_at=None)
    with engine(rt.db).begin() as conn:
        set_credential(
            conn,
            rt.keyring,
            tenant_id,
            platform,
            token,
            scopes=info.scopes,
            expires_at=info.expires_at,
        )
        record_audit(
            conn,
            tenant_id=tenant_id,
            actor="cli",
            action="credential_updated",
            resource_type="platform_credential",
            resource_id=platform,
            metadata={"scopes": list(info.scopes)},
        )
    expiry = f", expires {info.expires_at:%Y-%m-%d}" if info.expires_at else ""
    click.echo(f"{platform} credential stored for {tenant_id} (encrypted{expiry})")


@credentials.command("remove")
@click.option("--tenant", "tenant_id", required=True)
@click.option(
    "--platform", type=click.Choice(["meta", "google_ads", "ga4", "search_console"]), required=True
)
def credentials_remove(tenant_id: str, platform: str) -> None:
    """Delete a tenant's stored token for a platform (synced data is kept)."""
    from adinsights_pipelines.audit import record_audit
    from adinsights_pipelines.bootstrap import bootstrap
    from adinsights_pipelines.tenants import remove_credential
    from adinsights_pipelines.warehouse.database import engine

    rt = bootstrap()
    with engine(rt.db).begin() as conn:
        if not remove_credential(conn, tenant_id, platform):
            raise AdinsightsError(f"tenant {tenant_id!r} has no {platform} credential")
        record_audit(
            conn,
            tenant_id=tenant_id,
            actor="cli",
            action="credential_deleted",
            resource_type="platform_credential",
            resource_id=platform,
        )
    click.echo(f"{platform} credential removed for {tenant_id}")


@cli.group("web-analytics")
def web_analytics() -> None:
    """Manage tenants' GA4 properties and Search Console sites."""


def _web_source(ga4_property: str | None, search_console_site: str | None) -> tuple[str, str]:
    if bool(ga4_property) == bool(search_console_site):
        raise AdinsightsError("give exactly one of --ga4-property and --search-console-site")
    if ga4_property:
        return "ga4", ga4_property
    assert search_console_site is not None
    return "search_console", search_console_site


_GA4_OPTION = click.option("--ga4-property", help="A GA4 property id (digits).")
_SITE_OPTION = click.option(
    "--search-console-site",
    help="A Search Console property: https://www.example.com/ or sc-domain:example.com.",
)


@web_analytics.command("add")
@click.option("--tenant", "tenant_id", required=True)
@_GA4_OPTION
@_SITE_OPTION
def web_analytics_add(
    tenant_id: str, ga4_property: str | None, search_console_site: str | None
) -> None:
    """Sync a GA4 property or Search Console site for a tenant (hourly, 06:00-22:00).

    The tenant's Google refresh token is stored separately: adinsights credentials add
    --platform ga4 (or search_console).
    """
    from adinsights_pipelines.audit import record_audit
    from adinsights_pipelines.bootstrap import bootstrap
    from adinsights_pipelines.defs.google.sources import add_source, normalise_identifier
    from adinsights_pipelines.warehouse.database import engine

    provider, identifier = _web_source(ga4_property, search_console_site)
    identifier = normalise_identifier(provider, identifier)
    rt = bootstrap()
    with engine(rt.db).begin() as conn:
        created = add_source(conn, tenant_id, provider, identifier)
        record_audit(
            conn,
            tenant_id=tenant_id,
            actor="cli",
            action="web_analytics_source_added" if created else "web_analytics_source_reactivated",
            resource_type="web_analytics_source",
            resource_id=f"{provider}:{identifier}",
        )
    click.echo(f"{provider} {identifier} {'added' if created else 'reactivated'} for {tenant_id}")


@web_analytics.command("remove")
@click.option("--tenant", "tenant_id", required=True)
@_GA4_OPTION
@_SITE_OPTION
def web_analytics_remove(
    tenant_id: str, ga4_property: str | None, search_console_site: str | None
) -> None:
    """Stop syncing a GA4 property or Search Console site (its rows are kept)."""
    from adinsights_pipelines.audit import record_audit
    from adinsights_pipelines.bootstrap import bootstrap
    from adinsights_pipelines.defs.google.sources import deactivate_source, normalise_identifier
    from adinsights_pipelines.warehouse.database import engine

    provider, identifier = _web_source(ga4_property, search_console_site)
    identifier = normalise_identifier(provider, identifier)
    rt = bootstrap()
    with engine(rt.db).begin() as conn:
        if not deactivate_source(conn, tenant_id, provider, identifier):
            raise AdinsightsError(f"tenant {tenant_id!r} has no active {provider} {identifier}")
        record_audit(
            conn,
            tenant_id=tenant_id,
            actor="cli",
            action="web_analytics_source_deactivated",
            resource_type="web_analytics_source",
            resource_id=f"{provider}:{identifier}",
        )
    click.echo(f"{provider} {identifier} no longer synced for {tenant_id} (rows kept)")


@web_analytics.command("list")
@click.option("--tenant", "tenant_id", help="One tenant only.")
def web_analytics_list(tenant_id: str | None) -> None:
    """List GA4 properties and Search Console sites with their last sync."""
    from adinsights_pipelines.bootstrap import bootstrap
    from adinsights_pipelines.defs.google.sources import list_sources
    from adinsights_pipelines.warehouse.database import engine

    rt = bootstrap()
    with engine(rt.db).connect() as conn:
        sources = list_sources(conn, tenant_id)
    click.echo(f"{'TENANT':<24} {'PROVIDER':<15} {'STATE':<8} {'LAST SYNC':<10} SOURCE")
    for s in sources:
        state = "active" if s.is_active else "inactive"
        last = s.last_job_status or "never"
        click.echo(f"{s.tenant_id:<24} {s.provider:<15} {state:<8} {last:<10} {s.identifier}")


@cli.group("api-keys")
def api_keys() -> None:
    """Manage API keys (stored hashed; shown once)."""


@api_keys.command("create")
@click.option("--tenant", "tenant_id", help="The tenant this key may read.")
@click.option("--operator", is_flag=True, help="A key that may read every tenant.")
@click.option("--label", default="")
def api_keys_create(tenant_id: str | None, operator: bool, label: str) -> None:
    """Create a key and print it (it cannot be shown again)."""
    from adinsights_pipelines.api_keys import create_api_key
    from adinsights_pipelines.bootstrap import bootstrap
    from adinsights_pipelines.warehouse.database import engine

    rt = bootstrap()
    with engine(rt.db).begin() as conn:
        key = create_api_key(conn, tenant_id=tenant_id, operator=operator, label=label)
    click.echo(key)


@api_keys.command("list")
@click.option(
    "--unused-days",
    type=click.IntRange(min=1),
    help="Only active keys not used (nor created) in the last N days.",
)
def api_keys_list(unused_days: int | None) -> None:
    """List keys (prefix, role, tenant, last use; never the key)."""
    from adinsights_pipelines.api_keys import list_api_keys
    from adinsights_pipelines.bootstrap import bootstrap
    from adinsights_pipelines.warehouse.database import engine

    rt = bootstrap()
    with engine(rt.db).connect() as conn:
        keys = list_api_keys(conn, unused_days=unused_days)
    click.echo(f"{'PREFIX':<10} {'ROLE':<9} {'TENANT':<24} {'STATE':<8} {'LAST USED':<17} LABEL")
    for k in keys:
        state = "revoked" if k.revoked_at else "active"
        used = f"{k.last_used_at:%Y-%m-%d %H:%M}" if k.last_used_at else "never"
        click.echo(
            f"{k.prefix:<10} {k.role:<9} {k.tenant_id or '*':<24} {state:<8} {used:<17} {k.label}"
        )


@api_keys.command("revoke")
@click.argument("prefix")
def api_keys_revoke(prefix: str) -> None:
    """Revoke the key with PREFIX (the part after adi_)."""
    from adinsights_pipelines.api_keys import revoke_api_key
    from adinsights_pipelines.bootstrap import bootstrap
    from adinsights_pipelines.warehouse.database import engine

    rt = bootstrap()
    with engine(rt.db).begin() as conn:
        if not revoke_api_key(conn, prefix):
            raise AdinsightsError(f"no active API key with prefix {prefix!r}")
    click.echo(f"revoked {prefix}")


@cli.command("sync-airbyte")
@click.option("--tenant", "tenant_id", help="Sync this tenant only (default: every active tenant).")
def sync_airbyte_command(tenant_id: str | None) -> None:
    """Sync tenants' Airbyte connections now (Google Ads, ...), recorded in Dagster and audited."""
    from adinsights_pipelines.bootstrap import bootstrap
    from adinsights_pipelines.defs.airbyte.manual import sync_all
    from adinsights_pipelines.defs.resources import WarehouseResource
    from adinsights_pipelines.defs.tenants.sensors import sync_tenant_partitions
    from adinsights_pipelines.instance import get_instance

    rt = bootstrap()
    instance = get_instance()
    sync_tenant_partitions(instance, WarehouseResource(database_url=rt.db.plain_url))
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


@cli.group("airbyte-connections")
def airbyte_connections() -> None:
    """Register tenants' Airbyte connections (the connection must exist in Airbyte)."""


@airbyte_connections.command("add")
@click.option("--tenant-id", required=True)
@click.option("--provider", type=click.Choice(sorted(AIRBYTE_PROVIDER_NAMES)), required=True)
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
    from adinsights_pipelines.audit import record_audit
    from adinsights_pipelines.bootstrap import bootstrap
    from adinsights_pipelines.defs.airbyte.store import add_connection, normalize_connection_id
    from adinsights_pipelines.warehouse.database import engine

    rt = bootstrap()
    with engine(rt.db).begin() as conn:
        created = add_connection(
            conn,
            tenant_id=tenant_id,
            provider=provider,
            connection_id=connection_id,
            source_account_id=source_account_id,
            interval_minutes=interval_minutes,
        )
        record_audit(
            conn,
            tenant_id=tenant_id,
            actor="cli",
            action="airbyte_connection_added" if created else "airbyte_connection_updated",
            resource_type="airbyte_connection",
            resource_id=normalize_connection_id(connection_id),
            metadata={"provider": provider, "sync_interval_minutes": interval_minutes},
        )
    verb = "registered" if created else "updated"
    click.echo(
        f"{provider} connection {normalize_connection_id(connection_id)} {verb} for {tenant_id}"
    )


@airbyte_connections.command("list")
@click.option("--tenant-id", help="Only this tenant's connections.")
def airbyte_connections_list(tenant_id: str | None) -> None:
    """List registered connections with their last job."""
    from adinsights_pipelines.bootstrap import bootstrap
    from adinsights_pipelines.defs.airbyte.store import list_connections
    from adinsights_pipelines.warehouse.database import engine

    rt = bootstrap()
    with engine(rt.db).connect() as conn:
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
    from adinsights_pipelines.audit import record_audit
    from adinsights_pipelines.bootstrap import bootstrap
    from adinsights_pipelines.defs.airbyte.store import deactivate_connection
    from adinsights_pipelines.warehouse.database import engine

    rt = bootstrap()
    with engine(rt.db).begin() as conn:
        row = deactivate_connection(conn, connection_id)
        record_audit(
            conn,
            tenant_id=row.tenant_id,
            actor="cli",
            action="airbyte_connection_deactivated",
            resource_type="airbyte_connection",
            resource_id=row.connection_id,
            metadata={"provider": row.provider},
        )
    click.echo(f"connection {row.connection_id} of {row.tenant_id} deactivated")


@cli.command("rotate-deks")
@click.option("--dry-run", is_flag=True, help="Count what would be rotated; change nothing.")
@click.option("--tenant-id", help="Rotate one tenant only.")
def rotate_deks_command(dry_run: bool, tenant_id: str | None) -> None:
    """Give tenants new data keys (wrapped by the current master key); re-encrypt credentials."""
    from adinsights_pipelines.bootstrap import bootstrap
    from adinsights_pipelines.encryption import rotate_deks
    from adinsights_pipelines.tenants import require_tenant
    from adinsights_pipelines.warehouse.database import engine

    rt = bootstrap()
    if tenant_id:
        with engine(rt.db).connect() as conn:
            require_tenant(conn, tenant_id)
    report = rotate_deks(
        engine(rt.db),
        rt.keyring,
        tenant_id=tenant_id,
        dry_run=dry_run,
        on_tenant_done=lambda tenant, count: progress(
            f"{'would rotate' if dry_run else 'rotated'} {tenant}: {count} credentials"
        ),
        on_tenant_unreadable=lambda tenant, key_ids: progress(
            f"unreadable {tenant}: wrapped by master key {', '.join(key_ids)} (not held here)"
        ),
    )
    verb = "would rotate" if dry_run else "rotated"
    unreadable = f"; {len(report.unreadable)} unreadable" if report.unreadable else ""
    click.echo(
        f"{verb} {len(report.tenants)} tenants, {report.credentials} credentials{unreadable}"
    )


@cli.command("meta-backfill")
@click.option("--tenant-id", required=True, help="The tenant whose Meta insights to backfill.")
@click.option("--since", required=True, type=click.DateTime(["%Y-%m-%d"]), help="YYYY-MM-DD")
@click.option("--until", required=True, type=click.DateTime(["%Y-%m-%d"]), help="YYYY-MM-DD")
@click.option(
    "--account-id",
    "account_ids",
    multiple=True,
    help="Only this ad account (act_<id>); repeatable.",
)
def meta_backfill(
    tenant_id: str, since: datetime, until: datetime, account_ids: tuple[str, ...]
) -> None:
    """Backfill Meta insights for a date range through async report runs (resumable)."""
    from dagster import Failure

    from adinsights_pipelines.bootstrap import bootstrap
    from adinsights_pipelines.defs.meta.backfill_job import audit_backfill, backfill_tenant
    from adinsights_pipelines.defs.resources import MetaGraphResource
    from adinsights_pipelines.tenants import require_tenant
    from adinsights_pipelines.warehouse.database import engine

    rt = bootstrap()
    eng = engine(rt.db)
    with eng.connect() as conn:
        require_tenant(conn, tenant_id)
    try:
        report = backfill_tenant(
            eng,
            MetaGraphResource().sync_settings(),
            rt.keyring,
            tenant_id,
            since.date(),
            until.date(),
            account_ids=account_ids,
            progress=progress,
        )
    except Failure as exc:
        raise AdinsightsError(exc.description or str(exc)) from None
    audit_backfill(eng, report)
    click.echo(
        f"backfilled {tenant_id} {report.since}..{report.until}: {report.total_rows:,} rows "
        f"from {len(report.rows)} account(s)"
    )
    if report.failed:
        raise AdinsightsError(
            f"{len(report.failed)} account(s) failed ({', '.join(sorted(report.failed))}); "
            "re-run the same command to resume"
        )


@cli.command("snapshot-metrics")
@click.option("--tenant-id", help="Rebuild this tenant's snapshot only (default: every tenant).")
def snapshot_metrics(tenant_id: str | None) -> None:
    """Rebuild metrics snapshots now (each one a Dagster run of metrics_snapshots)."""
    from adinsights_pipelines.bootstrap import bootstrap
    from adinsights_pipelines.defs.resources import WarehouseResource
    from adinsights_pipelines.defs.snapshots.refresh import refresh_snapshots
    from adinsights_pipelines.defs.tenants.sensors import sync_tenant_partitions
    from adinsights_pipelines.instance import get_instance
    from adinsights_pipelines.tenants import active_tenant_ids, require_tenant
    from adinsights_pipelines.warehouse.database import engine

    rt = bootstrap(progress)
    with engine(rt.db).connect() as conn:
        if tenant_id:
            require_tenant(conn, tenant_id)
            tenant_ids = [tenant_id]
        else:
            tenant_ids = active_tenant_ids(conn)
    if not tenant_ids:
        raise AdinsightsError("no active tenants: add one with `adinsights tenants add`")
    instance = get_instance()
    sync_tenant_partitions(instance, WarehouseResource(database_url=rt.db.plain_url))
    outcomes = refresh_snapshots(instance, tenant_ids, progress)
    failed = [o for o in outcomes if not o.ok]
    click.echo(f"rebuilt {len(outcomes) - len(failed)} of {len(outcomes)} metrics snapshots")
    if failed:
        first = failed[0]
        raise AdinsightsError(
            f"{len(failed)} snapshot(s) failed ({', '.join(o.tenant_id for o in failed)}); "
            f"{first.tenant_id}: {first.error} (run {first.run_id})"
        )


@cli.command("simulate-alerts")
def simulate_alerts_command() -> None:
    """Observability simulation: stale snapshot, failing dbt model, failed Airbyte job in a
    sandbox tenant; checks each alert reaches Slack and email (local sinks if none configured)."""
    from adinsights_pipelines.bootstrap import bootstrap
    from adinsights_pipelines.definitions import defs
    from adinsights_pipelines.defs.alerts.simulation import render_table, simulate_alerts
    from adinsights_pipelines.instance import get_instance
    from adinsights_pipelines.warehouse.database import engine

    rt = bootstrap(progress)
    graph = defs.resolve_asset_graph()
    rows = simulate_alerts(engine(rt.db), get_instance(), rt.settings, progress, graph)
    click.echo(render_table(rows))
    failed = [r for r in rows if not r.passed]
    if failed:
        raise AdinsightsError(
            f"{len(failed)} of {len(rows)} simulated alerts did not arrive: "
            + ", ".join(r.label for r in failed)
        )


@cli.command()
@click.option("--dry-run", is_flag=True, help="Count what would be exported and deleted.")
def retention(dry_run: bool) -> None:
    """Export audit-log rows older than the retention window, verify, then delete them."""
    from adinsights_pipelines.retention import run_retention

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


@cli.command("generate-master-key")
def generate_master_key_command() -> None:
    """Print a new random master key for ADINSIGHTS_MASTER_KEY."""
    from adinsights_pipelines.encryption import generate_master_key

    click.echo(generate_master_key())


@cli.command("check-contracts")
@click.option(
    "--days",
    type=click.IntRange(1, 400),
    default=28,
    show_default=True,
    help="How many recent days to reconcile (raw vs marts) and check currencies over.",
)
@click.option("--tenant-id", help="Report only this tenant's violations.")
def check_contracts(days: int, tenant_id: str | None) -> None:
    """The cross-stream data-contract gate: marts vs raw, platform coverage, currencies.

    Prints a table of violations and exits non-zero when any contract is violated.
    """
    from adinsights_pipelines.bootstrap import bootstrap
    from adinsights_pipelines.defs.contracts.rules import (
        contracts,
        evaluate,
        require_marts,
        violations_table,
    )
    from adinsights_pipelines.tenants import require_tenant
    from adinsights_pipelines.warehouse.database import engine

    rt = bootstrap()
    found = []
    summary = []
    with engine(rt.db).connect() as conn:
        if tenant_id:
            require_tenant(conn, tenant_id)
        require_marts(conn)
        for contract in contracts(days=days):
            progress(f"checking {contract.name}")
            violations = [
                v for v in evaluate(conn, contract) if not tenant_id or v.tenant_id == tenant_id
            ]
            found += violations
            verdict = "FAIL" if violations else "ok"
            summary.append((contract.name, verdict, len(violations), contract.blocking))
    width = max(len(name) for name, *_ in summary)
    click.echo(f"{'CONTRACT':<{width}}  RESULT  VIOLATIONS  BLOCKS SNAPSHOTS")
    for name, verdict, count, blocking in summary:
        click.echo(f"{name:<{width}}  {verdict:<6}  {count:<10}  {'yes' if blocking else 'no'}")
    if found:
        click.echo("")
        click.echo(violations_table(found))
        failed = sum(1 for _, verdict, *_ in summary if verdict == "FAIL")
        raise AdinsightsError(f"{len(found)} data-contract violations in {failed} contracts")


@cli.command("reconcile")
@click.option("--tenant-id", help="Only this tenant's ad accounts.")
@click.option(
    "--days",
    type=click.IntRange(1, 400),
    default=28,
    show_default=True,
    help="How many recent complete days to compare.",
)
def reconcile(tenant_id: str | None, days: int) -> None:
    """Our Meta ad rows against Meta's own account totals, per account and day.

    Exits non-zero when a day differs (the same comparison blocks the tenant's snapshot).
    """
    from adinsights_pipelines.defs.contracts.commands import reconcile_command

    reconcile_command(tenant_id, days)


@cli.command("dbt-freshness")
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
    from adinsights_pipelines.defs.dbt.freshness import freshness_table, run_source_freshness

    rt = bootstrap()
    progress("running dbt source freshness")
    results = run_source_freshness(
        rt.db, warn_hours=warn_hours, error_hours=error_hours, select=selectors
    )
    click.echo(freshness_table(results))
    stale = [r.source for r in results if r.is_error]
    if stale:
        raise AdinsightsError(f"{len(stale)} sources past the error threshold: {', '.join(stale)}")


@cli.command()
@click.option("--once", is_flag=True, help="Do the demo's work, check the API, exit (no serving).")
def demo(once: bool) -> None:
    """Run the whole product on demo tenants fed by the Meta simulator."""
    from adinsights_pipelines.demo import run_demo

    run_demo(once=once, progress=progress)


@cli.command("serve-api")
def serve_api() -> None:
    """Serve the JSON API with uvicorn."""
    import uvicorn

    from adinsights_pipelines.bootstrap import bootstrap
    from adinsights_pipelines.code_location import asset_graph
    from adinsights_pipelines.logs import configure_logging
    from api.app import create_app

    rt = bootstrap(progress)
    configure_logging("INFO")
    # X-Forwarded-For is believed only from ADINSIGHTS_TRUSTED_PROXIES, which the app applies;
    # uvicorn's own proxy-header handling (trusting 127.0.0.1 by default) stays off.
    uvicorn.run(
        create_app(rt.db, rt.settings, asset_graph=asset_graph),
        host=rt.settings.api_host,
        port=rt.settings.api_port,
        log_config=None,
        proxy_headers=False,
        access_log=False,  # the app writes its own JSON access log (api.access)
    )


@cli.group()
def simulate() -> None:
    """Loopback simulators of the outside APIs."""


@simulate.command("meta")
@click.option("--host", default="127.0.0.1")
@click.option("--port", default=8010, type=click.IntRange(0, 65535))
def simulate_meta(host: str, port: int) -> None:
    """Serve the Meta Graph API simulator."""
    from adinsights_pipelines.simulators.meta_graph import main as serve

    serve(host, port)


@simulate.command("airbyte")
@click.option("--host", default="127.0.0.1")
@click.option("--port", default=8011, type=click.IntRange(0, 65535))
@click.option(
    "--database-url",
    envvar="ADINSIGHTS_DATABASE_URL",
    help="Where its syncs write (default: ADINSIGHTS_DATABASE_URL).",
)
@click.option("--seed", default=42, show_default=True, type=int)
def simulate_airbyte(host: str, port: int, database_url: str | None, seed: int) -> None:
    """Serve the Airbyte simulator (add connections with POST /__sim__/connections)."""
    from adinsights_pipelines.simulators.airbyte import main as serve

    serve(host, port, database_url, seed)


@simulate.command("google")
@click.option("--host", default="127.0.0.1")
@click.option("--port", default=8012, type=click.IntRange(0, 65535))
def simulate_google(host: str, port: int) -> None:
    """Serve the Google simulator (OAuth token endpoint, GA4 Data API, Search Console)."""
    from adinsights_pipelines.simulators.google import main as serve

    serve(host, port)


@simulate.command("fx-rates")
@click.option("--host", default="127.0.0.1")
@click.option("--port", default=8013, type=click.IntRange(0, 65535))
def simulate_fx_rates(host: str, port: int) -> None:
    """Serve the exchange-rate simulator (Open Exchange Rates' historical endpoint)."""
    from adinsights_pipelines.simulators.fx_rates import main as serve

    serve(host, port)


@cli.group("fx-rates")
def fx_rates() -> None:
    """Daily exchange rates (base USD) that convert spend to tenants' reporting currencies."""


_DAY = click.DateTime(formats=["%Y-%m-%d"])


@fx_rates.command("show")
@click.option("--since", type=_DAY, help="First day (default: 13 days before --until).")
@click.option("--until", type=_DAY, help="Last day (default: today, UTC).")
@click.option("--quote", "quotes", multiple=True, help="Only this currency (repeatable).")
def fx_rates_show(since: datetime | None, until: datetime | None, quotes: tuple[str, ...]) -> None:
    """Rates per day with their source; carried-forward and missing days."""
    from adinsights_pipelines.defs.fx.commands import show_command

    show_command(since.date() if since else None, until.date() if until else None, quotes)


@fx_rates.command("import")
@click.argument("csv_file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--source", help="Source name stored with each rate (default csv:<file name>).")
def fx_rates_import(csv_file: Path, source: str | None) -> None:
    """Import contractual rates from CSV_FILE (header date,base,quote,rate; base USD); audited.

    Imported rates replace any other source's for those days; all or nothing.
    """
    from adinsights_pipelines.defs.fx.commands import import_command

    import_command(csv_file, source)


@fx_rates.command("refresh")
@click.option("--since", type=_DAY, help="Backfill from this day (default: missing days only).")
@click.option("--until", type=_DAY, help="Last day (default: today, UTC).")
def fx_rates_refresh(since: datetime | None, until: datetime | None) -> None:
    """Fetch rates from the provider now, through Dagster (job fx_rates_refresh)."""
    from adinsights_pipelines.defs.fx.commands import refresh_command

    refresh_command(since.date() if since else None, until.date() if until else None)


@cli.group("meta")
def meta_group() -> None:
    """The Meta connector: onboarding links for clients, disconnecting."""


@meta_group.command("connect")
@click.option("--tenant", "tenant_id", required=True)
def meta_connect(tenant_id: str) -> None:
    """Print an onboarding link: the client signs in with Facebook there and picks accounts."""
    from adinsights_pipelines.meta_connect_cli import connect

    connect(tenant_id, progress)


@meta_group.command("disconnect")
@click.option("--tenant", "tenant_id", required=True)
def meta_disconnect(tenant_id: str) -> None:
    """Revoke the tenant's Facebook grant at Meta and delete its token (synced data is kept)."""
    from adinsights_pipelines.meta_connect_cli import disconnect

    disconnect(tenant_id, progress)


def _register_runbook_commands() -> None:
    from adinsights_pipelines import cli_runbook

    cli.add_command(cli_runbook.alerts)
    cli.add_command(cli_runbook.run_dbt_command)
    tenants.add_command(cli_runbook.tenants_purge)


_register_runbook_commands()


def main() -> None:
    from adinsights_pipelines.logs import configure_logging

    # Library log lines as JSON on stderr (warnings and up); the operator's progress lines are
    # plain text from progress().
    configure_logging("WARNING")
    try:
        cli.main(standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("adinsights: aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except AdinsightsError as exc:
        click.echo(f"adinsights: error: {exc}", err=True)
        sys.exit(2)
    except sqlalchemy.exc.OperationalError as exc:
        # A database that went away mid-command: the driver's first line, never the URL.
        reason = str(exc.orig or exc).strip().splitlines()[0]
        click.echo(f"adinsights: error: database error: {reason}", err=True)
        sys.exit(2)
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
