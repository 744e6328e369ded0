"""Shape Graph API rows into ``raw.meta_*`` rows (pure functions)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import orjson

from adinsights_pipelines.defs.meta.conversions import (
    DEFAULT_DEFINITION,
    UNIFIED,
    Attribution,
    ConversionDefinition,
    count,
)


def account_row(tenant_id: str, api_row: dict[str, Any]) -> dict[str, Any]:
    return {
        "tenant_id": tenant_id,
        "account_id": api_row["id"],
        "name": api_row.get("name"),
        "currency": api_row["currency"],
        "timezone_name": api_row.get("timezone_name"),
        "account_status": _int(api_row.get("account_status")),
    }


#: The columns of an :func:`insight_row`, in order (``raw.meta_insights_ad`` minus
#: ``_loaded_at``): one ad and day, read without a breakdown.
INSIGHT_COLUMNS = (
    "tenant_id", "account_id", "campaign_id", "campaign_name", "adset_id", "adset_name", "ad_id",
    "ad_name", "date_start", "date_stop", "spend", "impressions", "clicks", "reach",
    "conversions", "actions", "currency", "action_values", "conversion_value",
    "conversions_by_event", "conversion_events", "attribution_setting",
)  # fmt: skip
#: The columns of a :func:`region_record` (``raw.meta_insights`` minus ``_loaded_at``).
REGION_COLUMNS = (
    "tenant_id", "account_id", "campaign_id", "campaign_name", "adset_id", "adset_name", "ad_id",
    "ad_name", "date_start", "date_stop", "region", "spend", "impressions", "clicks", "reach",
    "conversions", "conversion_value", "currency", "attribution_setting",
)  # fmt: skip


def conversions(
    actions: list[dict[str, Any]] | None, definition: ConversionDefinition = DEFAULT_DEFINITION
) -> Decimal:
    """The row's conversions under ``definition``, each event counted once."""
    return count(definition, actions).total


def _decimal_text(value: Any) -> str:
    """A Graph money value as exact decimal text for a ``numeric`` column (``"12.34"``).

    Graph sends money as decimal strings: those pass through once checked to be decimal.
    """
    if type(value) is str and value:
        head, _, tail = value.partition(".")
        if value.isascii() and head.isdigit() and (not tail or tail.isdigit()):
            return value
    return str(Decimal(str(value if value not in (None, "") else "0")))


def insight_row(
    tenant_id: str,
    currency: str,
    api_row: dict[str, Any],
    definition: ConversionDefinition = DEFAULT_DEFINITION,
    attribution: Attribution = UNIFIED,
) -> dict[str, Any]:
    """One ``raw.meta_insights_ad`` row (an ad's day, no breakdown); natural key (tenant, ad,
    day).

    The keys are :data:`INSIGHT_COLUMNS`, in that order; ``spend``, ``conversions`` and
    ``conversion_value`` are exact decimal text (``"2516.10"``) for the ``numeric`` columns;
    ``conversions_by_event`` maps each event of ``definition`` found in the row to its count.
    """
    values = _insight_values(tenant_id, currency, api_row, definition, attribution)
    return dict(zip(INSIGHT_COLUMNS, values, strict=True))


def insight_record(
    tenant_id: str,
    currency: str,
    api_row: dict[str, Any],
    definition: ConversionDefinition = DEFAULT_DEFINITION,
    attribution: Attribution = UNIFIED,
) -> tuple[Any, ...]:
    """:func:`insight_row` as a tuple in :data:`INSIGHT_COLUMNS` order, JSON columns as text.

    What COPY takes, and cheap to hold: a tuple of strings, numbers and dates is not tracked
    by the garbage collector, so thousands of them waiting for the database cost it nothing.
    """
    return _insight_values(tenant_id, currency, api_row, definition, attribution, as_json=True)


def region_record(
    tenant_id: str,
    currency: str,
    api_row: dict[str, Any],
    definition: ConversionDefinition = DEFAULT_DEFINITION,
    attribution: Attribution = UNIFIED,
) -> tuple[Any, ...]:
    """One ``raw.meta_insights`` row (an ad's day in one region), for COPY, in
    :data:`REGION_COLUMNS` order; natural key (tenant, ad, day, region).

    ``region`` is a "Type 1" breakdown: Meta returns no off-Meta actions with it, so the region
    read asks for spend, impressions, clicks and reach only, and ``conversions`` and
    ``conversion_value`` are null (not read, which is not zero). ``definition`` is unused: the
    signature is :func:`insight_record`'s, so both reads load alike.
    """
    get = api_row.get
    return (
        *_ad_day(tenant_id, api_row),
        get("region") or "Unknown",
        _decimal_text(get("spend", "0")),
        _int(get("impressions")) or 0,
        _int(get("clicks")) or 0,
        _int(get("reach")) or 0,
        None,
        None,
        get("account_currency") or currency,
        attribution_label(attribution, get("attribution_setting")),
    )


def _ad_day(tenant_id: str, api_row: dict[str, Any]) -> tuple[Any, ...]:
    """The ad and day a row of either ad-level read is about: the columns both tables lead
    with (tenant, account, campaign, ad set and ad with their names, first and last day)."""
    get = api_row.get
    return (
        tenant_id,
        _act(api_row["account_id"]),
        api_row["campaign_id"],
        get("campaign_name"),
        api_row["adset_id"],
        get("adset_name"),
        api_row["ad_id"],
        get("ad_name"),
        date.fromisoformat(api_row["date_start"]),
        date.fromisoformat(api_row["date_stop"]),
    )


def _json(value: Any, as_json: bool) -> Any:
    return orjson.dumps(value).decode() if as_json else value


def _insight_values(
    tenant_id: str,
    currency: str,
    api_row: dict[str, Any],
    definition: ConversionDefinition,
    attribution: Attribution,
    *,
    as_json: bool = False,
) -> tuple[Any, ...]:
    get = api_row.get
    actions = get("actions") or []
    action_values = get("action_values") or []
    found = count(definition, actions, action_values, attribution)
    return (
        *_ad_day(tenant_id, api_row),
        _decimal_text(get("spend", "0")),
        _int(get("impressions")) or 0,
        _int(get("clicks")) or 0,
        _int(get("reach")),
        str(found.total),
        _json(actions, as_json),
        get("account_currency") or currency,
        _json(action_values, as_json),
        str(found.value),
        _json(found.by_event_json(), as_json),
        definition.text,
        attribution_label(attribution, get("attribution_setting")),
    )


def attribution_label(attribution: Attribution, meta_label: str | None) -> str:
    """What a raw row stores as ``attribution_setting``: Meta's label of the ad set's own
    setting under unified attribution (``7d_click_1d_view``, ``mixed``), else the windows
    asked for; ``/conversion`` or ``/mixed`` when not reported by impression time."""
    if attribution.windows:
        return attribution.label
    base = meta_label or "unified"
    return base if attribution.report_time == "impression" else f"{base}/{attribution.report_time}"


def _act(account_id: str) -> str:
    """Insights rows carry the bare id; accounts are keyed ``act_<id>`` everywhere else."""
    return account_id if account_id.startswith("act_") else f"act_{account_id}"


def _int(value: Any) -> int | None:
    return None if value is None or value == "" else int(value)


#: The columns of a :func:`level_record` (``raw.meta_insights_level`` minus ``_loaded_at``).
LEVEL_COLUMNS = (
    "tenant_id", "account_id", "level", "object_id", "object_name", "date_start", "spend",
    "impressions", "clicks", "reach", "conversions", "conversion_value", "conversions_by_event",
    "conversion_events", "attribution_setting", "currency",
)  # fmt: skip


def level_record(
    tenant_id: str,
    currency: str,
    level: str,
    api_row: dict[str, Any],
    definition: ConversionDefinition = DEFAULT_DEFINITION,
    attribution: Attribution = UNIFIED,
) -> tuple[Any, ...]:
    """One ``raw.meta_insights_level`` row (JSON as text, for COPY) of a ``level=campaign`` or
    ``level=account`` daily insights row.

    Reach is Meta's count of people at that level (null when Meta sends none). Conversions are
    null when Meta lists no actions at all: at a level spanning ad sets with different
    attribution settings Meta may leave action metrics out ("aggregation across multiple
    attribution settings"), which is not zero.
    """
    get = api_row.get
    account_id = _act(api_row["account_id"])
    object_id = account_id if level == "account" else api_row["campaign_id"]
    name = get("account_name") if level == "account" else get("campaign_name")
    has_actions = "actions" in api_row or "action_values" in api_row
    found = count(definition, get("actions"), get("action_values"), attribution)
    return (
        tenant_id,
        account_id,
        level,
        object_id,
        name,
        date.fromisoformat(api_row["date_start"]),
        _decimal_text(get("spend", "0")),
        _int(get("impressions")) or 0,
        _int(get("clicks")) or 0,
        _int(get("reach")),
        str(found.total) if has_actions else None,
        str(found.value) if has_actions else None,
        orjson.dumps(found.by_event_json()).decode(),
        definition.text,
        attribution_label(attribution, get("attribution_setting")),
        get("account_currency") or currency,
    )
