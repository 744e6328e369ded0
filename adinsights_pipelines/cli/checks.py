"""The on-call checks: ``check-contracts``, ``reconcile``, ``alerts run`` and
``simulate-alerts``."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime

import click

from adinsights_pipelines.cli.common import Command, progress, require_tenant, start
from adinsights_pipelines.errors import AdinsightsError


def _recent_days(text: str) -> Callable[[Command], Command]:
    """``--days``: how many recent days a check covers (28 unless given)."""
    return click.option(
        "--days", type=click.IntRange(1, 400), default=28, show_default=True, help=text
    )


@click.command("check-contracts")
@_recent_days("How many recent days to reconcile (raw vs marts) and check currencies over.")
@click.option("--tenant-id", help="Report only this tenant's violations.")
def check_contracts(days: int, tenant_id: str | None) -> None:
    """The cross-stream data-contract gate: marts vs raw, platform coverage, currencies.

    Prints a table of violations and exits non-zero when any contract is violated.
    """
    from adinsights_pipelines.defs.contracts.rules import (
        contracts,
        evaluate,
        require_marts,
        violations_table,
    )

    _, eng = start()
    require_tenant(eng, tenant_id)
    found = []
    summary = []
    with eng.connect() as conn:
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


@click.command("reconcile")
@click.option("--tenant-id", help="Only this tenant's ad accounts.")
@_recent_days("How many recent complete days to compare.")
def reconcile(tenant_id: str | None, days: int) -> None:
    """Our Meta ad rows against Meta's own account totals, per account and day.

    Exits non-zero when a day differs (the same comparison blocks the tenant's snapshot).
    """
    from adinsights_pipelines.defs.contracts.commands import reconcile_command

    reconcile_command(tenant_id, days)


@click.group()
def alerts() -> None:
    """Alert evaluation on demand."""


@alerts.command("run")
@click.option("--tenant-id", help="Show only this tenant's results (every rule is evaluated).")
@click.option("--json", "as_json", is_flag=True, help="Print the evaluation as JSON.")
def alerts_run(tenant_id: str | None, as_json: bool) -> None:
    """Evaluate every alert rule now (as the sensor does) and deliver any transitions."""
    from adinsights_pipelines.definitions import defs
    from adinsights_pipelines.defs.alerts.run import render_results, run_alerts_now
    from adinsights_pipelines.defs.resources import AlertChannelsResource
    from adinsights_pipelines.instance import get_instance

    rt, eng = start()
    require_tenant(eng, tenant_id)
    resource = AlertChannelsResource()
    channels = resource.channels()
    if not channels:
        progress("no alert channel configured (ADINSIGHTS_ALERT_*): evaluating without delivery")
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


@click.command("simulate-alerts")
def simulate_alerts_command() -> None:
    """Observability simulation: stale snapshot, failing dbt model, failed Airbyte job in a
    sandbox tenant; checks each alert reaches Slack and email (local sinks if none configured)."""
    from adinsights_pipelines.definitions import defs
    from adinsights_pipelines.defs.alerts.simulation import render_table, simulate_alerts
    from adinsights_pipelines.instance import get_instance

    rt, eng = start(progress)
    graph = defs.resolve_asset_graph()
    rows = simulate_alerts(eng, get_instance(), rt.settings, progress, graph)
    click.echo(render_table(rows))
    failed = [r for r in rows if not r.passed]
    if failed:
        raise AdinsightsError(
            f"{len(failed)} of {len(rows)} simulated alerts did not arrive: "
            + ", ".join(r.label for r in failed)
        )
