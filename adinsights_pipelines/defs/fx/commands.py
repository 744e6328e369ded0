"""The bodies of ``adinsights fx-rates show|import|refresh``.

``cli/fx.py`` only registers them; each one parses, calls the use case and prints.
"""

from __future__ import annotations

import time
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import click

from adinsights_pipelines.errors import AdinsightsError

if TYPE_CHECKING:
    from dagster import Definitions

_started = time.monotonic()
QUIET_CONSOLE = {"loggers": {"console": {"config": {"log_level": "ERROR"}}}}


def progress(message: str) -> None:
    click.echo(f"[{time.monotonic() - _started:6.1f}s] {message}", err=True)


def show_command(since: date | None, until: date | None, quotes: tuple[str, ...]) -> None:
    from adinsights_pipelines.bootstrap import bootstrap
    from adinsights_pipelines.currencies import validate_currency
    from adinsights_pipelines.defs.fx import store
    from adinsights_pipelines.defs.fx.refresh import make_plan, utc_today
    from adinsights_pipelines.warehouse.database import engine

    rt = bootstrap()
    eng = engine(rt.db)
    end = until or utc_today()
    start = since or end - timedelta(days=13)
    if start > end:
        raise AdinsightsError(f"--since {start} is after --until {end}")
    wanted = [validate_currency(q) for q in quotes] or make_plan(eng, rt.settings).quotes
    with eng.connect() as conn:
        rows = store.rate_rows(conn, start, end, wanted)
        seen = store.overview(conn, wanted, start, end)
    click.echo(
        f"{'DATE':<10}  {'BASE':<4}  {'QUOTE':<5}  {'RATE':>16}  {'SOURCE':<24}  CARRIED FROM"
    )
    for r in rows:
        click.echo(
            f"{r.rate_date}  USD   {r.quote:<5}  {r.rate.normalize():>16f}  {r.source:<24}  "
            f"{r.carried_from or '-'}"
        )
    click.echo("")
    click.echo(f"latest published rate: {seen.latest_published or 'none'}")
    click.echo(
        f"carried forward ({len(seen.carried_days)}): "
        + (", ".join(d.isoformat() for d in seen.carried_days) or "none")
    )
    click.echo(
        f"missing ({len(seen.missing_days)}): "
        + (", ".join(d.isoformat() for d in seen.missing_days) or "none")
    )


def import_command(path: Path, source: str | None) -> None:
    from dagster import AssetKey, AssetMaterialization, MetadataValue

    from adinsights_pipelines.audit import record_audit
    from adinsights_pipelines.bootstrap import bootstrap
    from adinsights_pipelines.defs.fx.providers import read_rates_csv
    from adinsights_pipelines.defs.fx.refresh import import_rates, utc_today
    from adinsights_pipelines.instance import get_instance
    from adinsights_pipelines.warehouse.database import engine

    batches = read_rates_csv(path, source)
    rt = bootstrap()
    eng = engine(rt.db)
    report = import_rates(
        eng, batches, carry_through=utc_today(), max_carry_days=rt.settings.fx_max_carry_days
    )
    with eng.begin() as conn:
        record_audit(
            conn,
            tenant_id=None,
            actor="cli",
            action="fx_rates_imported",
            resource_type="fx_rates",
            resource_id=batches[0].source,
            metadata={
                "file": path.name,
                "days": report.days,
                "quotes": report.quotes,
                "first": report.first.isoformat(),
                "last": report.last.isoformat(),
                "rows_written": report.counts.written,
            },
        )
    # The asset's history shows the import like a run (freshness, metadata).
    get_instance().report_runless_asset_event(
        AssetMaterialization(
            asset_key=AssetKey("fx_rates_daily"),
            description=f"imported from {path.name}",
            metadata={
                "source": batches[0].source,
                "range": f"{report.first} .. {report.last}",
                "quotes": MetadataValue.json(report.quotes),
                "rows_written": report.counts.written,
                "rows_unchanged": report.counts.unchanged,
                "carried_rows_written": report.carried_written,
            },
        )
    )
    click.echo(
        f"imported {report.days} days ({report.first} .. {report.last}) of "
        f"{', '.join(report.quotes)} from {path.name}: {report.counts.written} rows written, "
        f"{report.counts.unchanged} unchanged, {report.carried_written} carried-forward rows "
        "updated"
    )
    click.echo("the next dbt run re-converts the days whose rate changed")


def fx_definitions() -> Definitions:
    """The exchange-rate concern as the code location assembles it (``defs/assembly.py``).
    Imported on first use: this module is imported by every ``fx-rates`` command."""
    from adinsights_pipelines.defs.assembly import assemble
    from adinsights_pipelines.defs.fx import definitions as fx

    return assemble(fx.defs)


def refresh_command(since: date | None, until: date | None) -> None:
    from adinsights_pipelines.bootstrap import bootstrap
    from adinsights_pipelines.instance import get_instance
    from adinsights_pipelines.logs import redact

    if since and until and since > until:
        raise AdinsightsError(f"--since {since} is after --until {until}")
    bootstrap(progress)
    config = {
        "start": since.isoformat() if since else None,
        "end": until.isoformat() if until else None,
    }
    progress("materializing fx_rates_daily (job fx_rates_refresh)")
    job = fx_definitions().resolve_job_def("fx_rates_refresh")
    result = job.execute_in_process(
        instance=get_instance(),
        raise_on_error=False,
        tags={"adinsights/trigger": "cli"},
        run_config={**QUIET_CONSOLE, "ops": {"fx_rates_daily": {"config": config}}},
    )
    if not result.success:
        failure = next((e for e in result.all_events if e.is_step_failure), None)
        error = failure.step_failure_data.error if failure else None
        while error is not None and error.cause is not None:
            error = error.cause
        reason = (error.message if error else "see the run in Dagster").strip().splitlines()[0]
        raise AdinsightsError(f"fx_rates_refresh failed (run {result.run_id}): {redact(reason)}")
    [materialization] = result.asset_materializations_for_node("fx_rates_daily")
    meta = {k: v.value for k, v in materialization.metadata.items()}
    click.echo(
        f"rates {meta['range']} for {', '.join(meta['quotes'])} from {meta['source']}: "  # type: ignore[arg-type]
        f"{meta['days_fetched']} days fetched, {meta['rows_written']} rows written, "
        f"{meta['carried_rows_written']} carried-forward rows updated"
    )
    click.echo(
        f"latest published rate: {meta['latest_published']}; carried-forward days: "
        f"{meta['carried_days']}; missing days: {', '.join(meta['missing_days']) or 'none'}"  # type: ignore[arg-type]
    )
