"""``fx_rates_daily``: daily exchange rates, one asset for every tenant (not partitioned)."""

from datetime import date

from dagster import AssetExecutionContext, Config, MaterializeResult, MetadataValue, asset
from pydantic import Field

from adinsights_pipelines.defs.fx import store
from adinsights_pipelines.defs.fx.refresh import make_plan, provider_from_settings, refresh_rates
from adinsights_pipelines.defs.resources import WarehouseResource
from adinsights_pipelines.settings import load_settings


class FxRatesConfig(Config):
    """A backfill names its range; the schedule's run leaves both empty (see ``make_plan``)."""

    start: str | None = Field(default=None, description="First day (YYYY-MM-DD).")
    end: str | None = Field(default=None, description="Last day (YYYY-MM-DD); default today.")


@asset(
    group_name="fx_rates",
    kinds={"python", "postgres"},
    description=(
        "Daily exchange rates (raw.fx_rates_daily), base USD: one row per (date, base, quote) "
        "with rate, source and fetched_at, from the configured provider or imported CSVs; days "
        "without a published rate carry the last one forward (carried_from). Covers every day "
        "of every tenant's ad data."
    ),
)
def fx_rates_daily(
    context: AssetExecutionContext, config: FxRatesConfig, warehouse: WarehouseResource
) -> MaterializeResult:
    settings = load_settings()
    engine = warehouse.engine()
    plan = make_plan(
        engine,
        settings,
        start=date.fromisoformat(config.start) if config.start else None,
        end=date.fromisoformat(config.end) if config.end else None,
    )
    report = refresh_rates(engine, provider_from_settings(settings), plan, context.log.info)
    with engine.connect() as conn:
        seen = store.overview(conn, plan.quotes, plan.start, plan.end)
    if report.unavailable:
        context.log.warning(
            "fx.rates.unavailable days=%s", ",".join(d.isoformat() for d in report.unavailable)
        )
    return MaterializeResult(
        metadata={
            "source": settings.fx_provider,
            "quotes": MetadataValue.json(plan.quotes),
            "range": f"{plan.start} .. {plan.end}",
            "days_fetched": len(report.fetched),
            "days_unavailable": MetadataValue.json([d.isoformat() for d in report.unavailable]),
            "rows_written": report.counts.written,
            "rows_unchanged": report.counts.unchanged,
            "carried_rows_written": report.carried_written,
            "latest_published": str(seen.latest_published),
            "carried_days": len(seen.carried_days),
            "missing_days": MetadataValue.json([d.isoformat() for d in seen.missing_days]),
        }
    )
