"""``adinsights credentials`` and ``adinsights web-analytics``: what a tenant connects."""

from __future__ import annotations

from typing import TextIO

import click

from adinsights_pipelines.cli.common import Command, progress, start
from adinsights_pipelines.errors import AdinsightsError

_PLATFORM_OPTION = click.option(
    "--platform", type=click.Choice(["meta", "google_ads", "ga4", "search_console"]), required=True
)


@click.group()
def credentials() -> None:
    """Manage tenants' platform credentials."""


@credentials.command("add")
@click.option("--tenant", "tenant_id", required=True)
@_PLATFORM_OPTION
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
    from adinsights_pipelines.services.credentials import platform_token_check, store_credential

    token = token_file.readline().strip()
    if not token:
        raise AdinsightsError("no token given: pipe it on standard input or pass --token-file")
    rt, eng = start()
    stored = store_credential(
        eng,
        rt.keyring,
        tenant_id,
        platform,
        token,
        check=platform_token_check(platform, rt.settings, progress),
        actor="cli",
    )
    expiry = f", expires {stored.expires_at:%Y-%m-%d}" if stored.expires_at else ""
    click.echo(f"{platform} credential stored for {tenant_id} (encrypted{expiry})")


@credentials.command("remove")
@click.option("--tenant", "tenant_id", required=True)
@_PLATFORM_OPTION
def credentials_remove(tenant_id: str, platform: str) -> None:
    """Delete a tenant's stored token for a platform (synced data is kept)."""
    from adinsights_pipelines.services.credentials import remove_credential

    _, eng = start()
    with eng.begin() as conn:
        remove_credential(conn, tenant_id, platform, actor="cli")
    click.echo(f"{platform} credential removed for {tenant_id}")


@click.group("web-analytics")
def web_analytics() -> None:
    """Manage tenants' GA4 properties and Search Console sites."""


def _web_source(ga4_property: str | None, search_console_site: str | None) -> tuple[str, str]:
    """The provider and the identifier given, checked (before start-up)."""
    from adinsights_pipelines.defs.google.sources import normalise_identifier

    if bool(ga4_property) == bool(search_console_site):
        raise AdinsightsError("give exactly one of --ga4-property and --search-console-site")
    if ga4_property:
        return "ga4", normalise_identifier("ga4", ga4_property)
    assert search_console_site is not None
    return "search_console", normalise_identifier("search_console", search_console_site)


def _source_options(command: Command) -> Command:
    """``--tenant`` and the source: a GA4 property or a Search Console site."""
    command = click.option(
        "--search-console-site",
        help="A Search Console property: https://www.example.com/ or sc-domain:example.com.",
    )(command)
    command = click.option("--ga4-property", help="A GA4 property id (digits).")(command)
    return click.option("--tenant", "tenant_id", required=True)(command)


@web_analytics.command("add")
@_source_options
def web_analytics_add(
    tenant_id: str, ga4_property: str | None, search_console_site: str | None
) -> None:
    """Sync a GA4 property or Search Console site for a tenant (hourly, 06:00-22:00).

    The tenant's Google refresh token is stored separately: adinsights credentials add
    --platform ga4 (or search_console).
    """
    from adinsights_pipelines.services.web_analytics_sources import add_web_analytics_source

    provider, identifier = _web_source(ga4_property, search_console_site)
    _, eng = start()
    with eng.begin() as conn:
        _, created = add_web_analytics_source(conn, tenant_id, provider, identifier, actor="cli")
    click.echo(f"{provider} {identifier} {'added' if created else 'reactivated'} for {tenant_id}")


@web_analytics.command("remove")
@_source_options
def web_analytics_remove(
    tenant_id: str, ga4_property: str | None, search_console_site: str | None
) -> None:
    """Stop syncing a GA4 property or Search Console site (its rows are kept)."""
    from adinsights_pipelines.services.web_analytics_sources import remove_web_analytics_source

    provider, identifier = _web_source(ga4_property, search_console_site)
    _, eng = start()
    with eng.begin() as conn:
        remove_web_analytics_source(conn, tenant_id, provider, identifier, actor="cli")
    click.echo(f"{provider} {identifier} no longer synced for {tenant_id} (rows kept)")


@web_analytics.command("list")
@click.option("--tenant", "tenant_id", help="One tenant only.")
def web_analytics_list(tenant_id: str | None) -> None:
    """List GA4 properties and Search Console sites with their last sync."""
    from adinsights_pipelines.defs.google.sources import list_sources

    _, eng = start()
    with eng.connect() as conn:
        sources = list_sources(conn, tenant_id)
    click.echo(f"{'TENANT':<24} {'PROVIDER':<15} {'STATE':<8} {'LAST SYNC':<10} SOURCE")
    for s in sources:
        state = "active" if s.is_active else "inactive"
        last = s.last_job_status or "never"
        click.echo(f"{s.tenant_id:<24} {s.provider:<15} {state:<8} {last:<10} {s.identifier}")
