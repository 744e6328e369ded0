"""``adinsights meta connect|disconnect`` and ``meta-backfill``: the Meta connector's lifecycle
(:mod:`adinsights_pipelines.defs.meta.connect`) and re-reading its history."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING

import click

from adinsights_pipelines.cli.common import progress, require_tenant, start
from adinsights_pipelines.errors import AdinsightsError

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from adinsights_pipelines.bootstrap import Runtime
    from adinsights_pipelines.defs.meta.backfill_job import TenantBackfill


@click.group("meta")
def meta_group() -> None:
    """The Meta connector: onboarding links for clients, disconnecting."""


@meta_group.command("connect")
@click.option("--tenant", "tenant_id", required=True)
def meta_connect(tenant_id: str) -> None:
    """Print an onboarding link: the client signs in with Facebook there and picks accounts."""
    from adinsights_pipelines.defs.meta.connect import LoginConfig, Signer, onboarding_link
    from adinsights_pipelines.services.credentials import record_meta_onboarding_link

    rt, eng = start()
    config = LoginConfig.from_settings(rt.settings)
    hours = rt.settings.onboarding_link_hours
    with eng.begin() as conn:
        record_meta_onboarding_link(conn, tenant_id, valid_hours=hours, actor="cli")
    link = onboarding_link(config, Signer(rt.keyring), tenant_id)
    until = datetime.now(UTC) + timedelta(hours=hours)
    progress(
        f"send this link to {tenant_id}'s Facebook ads owner; "
        f"it works until {until:%Y-%m-%d %H:%M} UTC"
    )
    click.echo(link)


@meta_group.command("disconnect")
@click.option("--tenant", "tenant_id", required=True)
def meta_disconnect(tenant_id: str) -> None:
    """Revoke the tenant's Facebook grant at Meta and delete its token (synced data is kept)."""
    from adinsights_pipelines.defs.meta.connect import Refused, logout

    rt, eng = start()
    require_tenant(eng, tenant_id)
    progress(f"revoking {tenant_id}'s Facebook grant (DELETE /me/permissions)")
    try:
        result = logout(eng, rt.keyring, rt.settings, tenant_id, "cli")
    except Refused as exc:
        raise AdinsightsError(str(exc)) from None
    revoked = (
        "grant revoked at Meta"
        if result["revoked_at_meta"]
        else f"Meta did not confirm the revocation ({result['revoke_error']})"
    )
    click.echo(f"meta disconnected for {tenant_id}: {revoked}; token deleted; synced data kept")


@click.command("meta-backfill")
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
    from adinsights_pipelines.defs.meta.backfill_job import audit_backfill

    rt, eng = start()
    require_tenant(eng, tenant_id)
    report = backfill(eng, rt, tenant_id, since.date(), until.date(), account_ids, progress)
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


def backfill(
    eng: Engine,
    rt: Runtime,
    tenant_id: str,
    since: date,
    until: date,
    account_ids: Sequence[str],
    report_progress: Callable[[str], None],
) -> TenantBackfill:
    """Read the tenant's Meta insights for the days again (async report runs, resumable); a
    failure Dagster reports becomes one operator-facing error line."""
    from dagster import Failure

    from adinsights_pipelines.defs.meta.backfill_job import backfill_tenant
    from adinsights_pipelines.defs.resources import MetaGraphResource

    try:
        return backfill_tenant(
            eng,
            MetaGraphResource().sync_settings(),
            rt.keyring,
            tenant_id,
            since,
            until,
            account_ids=account_ids,
            progress=report_progress,
        )
    except Failure as exc:
        raise AdinsightsError(exc.description or str(exc)) from None


def reread_attribution(eng: Engine, rt: Runtime, tenant_id: str) -> None:
    """Re-read the tenant's stored Meta history under its new attribution setting (async
    report runs, resumable, audited ``meta_backfill``); its conversions are counted again on
    the way in."""
    from adinsights_pipelines.defs.meta.assets import JAMAICA
    from adinsights_pipelines.defs.meta.backfill_job import audit_backfill, stored_history

    span = stored_history(eng, tenant_id, datetime.now(JAMAICA).date())
    if span is None:
        click.echo("no Meta insights stored yet: the next sync reads under the new setting")
        return
    since, until = span
    resume = f"adinsights meta-backfill --tenant-id {tenant_id} --since {since} --until {until}"
    click.echo(f"re-reading {tenant_id}'s Meta insights {since}..{until} under the new setting")
    try:
        report = backfill(eng, rt, tenant_id, since, until, (), click.echo)
    except AdinsightsError as exc:
        raise AdinsightsError(
            f"the setting is stored, but the re-read failed: {exc}; resume it with {resume}"
        ) from None
    audit_backfill(eng, report, reason="attribution setting changed")
    click.echo(
        f"re-read {report.total_rows:,} rows from {len(report.rows)} account(s); the next dbt "
        "run rebuilds their days"
    )
    if report.failed:
        raise AdinsightsError(
            f"{len(report.failed)} account(s) failed ({', '.join(sorted(report.failed))}); "
            f"resume with {resume}"
        )


def recount_conversions(eng: Engine, rt: Runtime, tenant_id: str, events: str) -> None:
    """Count the tenant's stored Meta conversions again under its new definition (``events``,
    or ``default``: the global one)."""
    from adinsights_pipelines.defs.meta.conversions import ConversionDefinition
    from adinsights_pipelines.defs.meta.recount import recount_conversions as recount
    from adinsights_pipelines.defs.meta.sync import tenant_attribution

    definition = ConversionDefinition.parse(
        rt.settings.meta_conversion_events if events == "default" else events
    )
    read_under = tenant_attribution(eng, tenant_id)
    result = recount(eng, tenant_id, definition, read_under, progress=click.echo)
    click.echo(
        f"conversions counted again under {definition.text}: {result.rows} insight rows, "
        f"{result.changed} changed; the next dbt run rebuilds their days"
    )
    if result.without_values:
        click.echo(
            f"{result.without_values} rows were loaded before conversion values were read: "
            "their conversion_value stays 0 until re-read (adinsights meta-backfill)"
        )
