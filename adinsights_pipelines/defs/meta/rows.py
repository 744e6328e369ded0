"""Shape Graph API rows into ``raw.meta_*`` rows (pure functions)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import orjson

# Action types counted as conversions in the marts. Meta reports each as its own action_type.
CONVERSION_ACTION_TYPES = frozenset(
    {
        "purchase",
        "lead",
        "complete_registration",
        "offsite_conversion.fb_pixel_purchase",
        "offsite_conversion.fb_pixel_lead",
        "onsite_conversion.purchase",
    }
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


#: The columns of an :func:`insight_row`, in order (``raw.meta_insights`` minus ``_loaded_at``).
INSIGHT_COLUMNS = (
    "tenant_id", "account_id", "campaign_id", "campaign_name", "adset_id", "adset_name", "ad_id",
    "ad_name", "date_start", "date_stop", "region", "spend", "impressions", "clicks", "reach",
    "conversions", "actions", "currency",
)  # fmt: skip


def conversions(actions: list[dict[str, Any]] | None) -> Decimal:
    return sum(
        (
            Decimal(str(a.get("value", "0")))
            for a in actions or []
            if a.get("action_type") in CONVERSION_ACTION_TYPES
        ),
        Decimal(0),
    )


def _conversions_text(actions: list[dict[str, Any]]) -> str:
    """:func:`conversions` as exact decimal text; whole-number values skip ``Decimal``."""
    total = 0
    for action in actions:
        if action.get("action_type") in CONVERSION_ACTION_TYPES:
            value = action.get("value", "0")
            if type(value) is not str or not (value.isascii() and value.isdigit()):
                return str(conversions(actions))  # fractions, signs, numbers: the exact path
            total += int(value)
    return str(total)


def _decimal_text(value: Any) -> str:
    """A Graph money value as exact decimal text for a ``numeric`` column (``"12.34"``).

    Graph sends money as decimal strings: those pass through once checked to be decimal.
    """
    if type(value) is str and value:
        head, _, tail = value.partition(".")
        if value.isascii() and head.isdigit() and (not tail or tail.isdigit()):
            return value
    return str(Decimal(str(value if value not in (None, "") else "0")))


def insight_row(tenant_id: str, currency: str, api_row: dict[str, Any]) -> dict[str, Any]:
    """One ``raw.meta_insights`` row; natural key (tenant, ad, day, region).

    The keys are :data:`INSIGHT_COLUMNS`, in that order; ``spend`` and ``conversions`` are
    exact decimal text (``"2516.10"``) for the ``numeric`` columns.
    """
    actions = api_row.get("actions") or []
    values = _insight_values(tenant_id, currency, api_row, actions)
    return dict(zip(INSIGHT_COLUMNS, values, strict=True))


def insight_record(tenant_id: str, currency: str, api_row: dict[str, Any]) -> tuple[Any, ...]:
    """:func:`insight_row` as a tuple in :data:`INSIGHT_COLUMNS` order, ``actions`` as JSON text.

    What COPY takes, and cheap to hold: a tuple of strings, numbers and dates is not tracked
    by the garbage collector, so thousands of them waiting for the database cost it nothing.
    """
    actions = api_row.get("actions") or []
    return _insight_values(tenant_id, currency, api_row, actions, orjson.dumps(actions).decode())


def _insight_values(
    tenant_id: str,
    currency: str,
    api_row: dict[str, Any],
    actions: list[dict[str, Any]],
    actions_value: Any = None,
) -> tuple[Any, ...]:
    get = api_row.get
    account_id = api_row["account_id"]
    return (
        tenant_id,
        account_id if account_id.startswith("act_") else "act_" + account_id,
        api_row["campaign_id"],
        get("campaign_name"),
        api_row["adset_id"],
        get("adset_name"),
        api_row["ad_id"],
        get("ad_name"),
        date.fromisoformat(api_row["date_start"]),
        date.fromisoformat(api_row["date_stop"]),
        get("region") or "Unknown",
        _decimal_text(get("spend", "0")),
        _int(get("impressions")) or 0,
        _int(get("clicks")) or 0,
        _int(get("reach")) or 0,
        _conversions_text(actions),
        actions if actions_value is None else actions_value,
        get("account_currency") or currency,
    )


def _act(account_id: str) -> str:
    """Insights rows carry the bare id; accounts are keyed ``act_<id>`` everywhere else."""
    return account_id if account_id.startswith("act_") else f"act_{account_id}"


def _int(value: Any) -> int | None:
    return None if value is None or value == "" else int(value)
