"""``adinsights fx-rates``: the daily exchange rates that convert spend to tenants' reporting
currencies (the bodies are in :mod:`adinsights_pipelines.defs.fx.commands`)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import click

_DAY = click.DateTime(formats=["%Y-%m-%d"])


@click.group("fx-rates")
def fx_rates() -> None:
    """Daily exchange rates (base USD) that convert spend to tenants' reporting currencies."""


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
