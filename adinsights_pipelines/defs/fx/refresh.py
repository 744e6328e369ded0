"""Fetching, importing and carrying forward daily rates: called by the asset and the CLI alike."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from sqlalchemy.engine import Engine

from adinsights_pipelines.currencies import validate_currency
from adinsights_pipelines.defs.fx import store
from adinsights_pipelines.defs.fx.providers import (
    BASE,
    OpenExchangeRates,
    PublishedRates,
    RatesProvider,
    RatesUnavailable,
    quotes_of,
)
from adinsights_pipelines.errors import ConfigError
from adinsights_pipelines.logs import register_secret
from adinsights_pipelines.settings import Settings

Progress = Callable[[str], None]


@dataclass(frozen=True)
class FxPlan:
    """What a run of ``fx_rates_daily`` covers."""

    quotes: list[str]
    start: date
    end: date
    reread_days: int
    max_carry_days: int


@dataclass
class RefreshReport:
    plan: FxPlan
    fetched: list[date] = field(default_factory=list)
    unavailable: list[date] = field(default_factory=list)
    counts: store.WriteCounts = field(default_factory=store.WriteCounts)
    carried_written: int = 0


def provider_from_settings(settings: Settings) -> RatesProvider | None:
    """The configured HTTP provider; ``None`` for ``csv`` (imports only)."""
    if settings.fx_provider == "csv":
        return None
    if settings.fx_app_id is None:
        raise ConfigError(
            "set ADINSIGHTS_FX_APP_ID (Open Exchange Rates App ID), or ADINSIGHTS_FX_PROVIDER=csv "
            "to use only imported rates"
        )
    app_id = settings.fx_app_id.get_secret_value()
    register_secret(app_id)
    return OpenExchangeRates(
        settings.fx_api_url, app_id, timeout_s=settings.fx_request_timeout_seconds
    )


def utc_today() -> date:
    return datetime.now(UTC).date()


def make_plan(
    engine: Engine,
    settings: Settings,
    *,
    today: date | None = None,
    start: date | None = None,
    end: date | None = None,
) -> FxPlan:
    """Every day from the first day of any tenant's data (or ``ADINSIGHTS_FX_HISTORY_START``)
    through today (UTC, the provider's day), for the configured currencies and every currency in
    use. Days already published are not fetched again, except the last ``reread_days``."""
    today = today or utc_today()
    with engine.connect() as conn:
        in_use = store.currencies_in_use(conn)
        first = settings.fx_history_start or store.earliest_data_day(conn)
    quotes = sorted(({validate_currency(c) for c in settings.fx_currency_list} | in_use) - {BASE})
    plan_end = end or today
    plan_start = start or min(first or plan_end, plan_end - timedelta(days=settings.fx_reread_days))
    return FxPlan(quotes, plan_start, plan_end, settings.fx_reread_days, settings.fx_max_carry_days)


def refresh_rates(
    engine: Engine,
    provider: RatesProvider | None,
    plan: FxPlan,
    progress: Progress = lambda message: None,
) -> RefreshReport:
    """Fetch the plan's unpublished and recent days, each day committed on its own (a failure
    keeps what was fetched), then carry published rates forward over the gaps."""
    report = RefreshReport(plan)
    try:
        if provider is not None:
            with engine.connect() as conn:
                have = store.published_days(conn, plan.quotes, plan.start, plan.end)
            recent = plan.end - timedelta(days=plan.reread_days)
            days = [d for d in store.day_span(plan.start, plan.end) if d not in have or d > recent]
            progress(
                f"fetching {len(days)} days of {', '.join(plan.quotes)} rates from {provider.name}"
            )
            for number, day in enumerate(days, 1):
                try:
                    published = provider.fetch(day, plan.quotes)
                except RatesUnavailable:
                    report.unavailable.append(day)
                    continue
                with engine.begin() as conn:
                    report.counts += store.write_published(
                        conn, [published], overwrite_other_sources=False
                    )
                report.fetched.append(day)
                if number % 30 == 0 or number == len(days):
                    progress(f"  {number}/{len(days)} days ({day})")
    finally:
        with engine.begin() as conn:
            report.carried_written = store.fill_carried_forward(
                conn, plan.quotes, plan.end, plan.max_carry_days
            )
    return report


@dataclass(frozen=True)
class ImportReport:
    days: int
    quotes: list[str]
    first: date
    last: date
    counts: store.WriteCounts
    carried_written: int


def import_rates(
    engine: Engine,
    batches: Sequence[PublishedRates],
    *,
    carry_through: date,
    max_carry_days: int,
) -> ImportReport:
    """Write imported (contractual) rates over any other source, and re-carry, in one
    transaction: an import is all or nothing."""
    quotes = sorted(quotes_of(batches))
    with engine.begin() as conn:
        counts = store.write_published(conn, batches, overwrite_other_sources=True)
        through = max(carry_through, max(b.day for b in batches))
        carried = store.fill_carried_forward(conn, quotes, through, max_carry_days)
    return ImportReport(len(batches), quotes, batches[0].day, batches[-1].day, counts, carried)
