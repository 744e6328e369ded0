"""Shape Graph API rows into ``raw.meta_*`` rows (pure functions)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

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


def conversions(actions: list[dict[str, Any]] | None) -> Decimal:
    return sum(
        (
            Decimal(str(a.get("value", "0")))
            for a in actions or []
            if a.get("action_type") in CONVERSION_ACTION_TYPES
        ),
        Decimal(0),
    )


def insight_row(tenant_id: str, currency: str, api_row: dict[str, Any]) -> dict[str, Any]:
    """One ``raw.meta_insights`` row; natural key (tenant, ad, day, region)."""
    actions = api_row.get("actions") or []
    return {
        "tenant_id": tenant_id,
        "account_id": _act(api_row["account_id"]),
        "campaign_id": api_row["campaign_id"],
        "campaign_name": api_row.get("campaign_name"),
        "adset_id": api_row["adset_id"],
        "adset_name": api_row.get("adset_name"),
        "ad_id": api_row["ad_id"],
        "ad_name": api_row.get("ad_name"),
        "date_start": date.fromisoformat(api_row["date_start"]),
        "date_stop": date.fromisoformat(api_row["date_stop"]),
        "region": api_row.get("region") or "Unknown",
        "spend": Decimal(str(api_row.get("spend", "0"))),
        "impressions": _int(api_row.get("impressions")) or 0,
        "clicks": _int(api_row.get("clicks")) or 0,
        "reach": _int(api_row.get("reach")) or 0,
        "conversions": conversions(actions),
        "actions": actions,
        "currency": api_row.get("account_currency") or currency,
    }


def _act(account_id: str) -> str:
    """Insights rows carry the bare id; accounts are keyed ``act_<id>`` everywhere else."""
    return account_id if account_id.startswith("act_") else f"act_{account_id}"


def _int(value: Any) -> int | None:
    return None if value is None or value == "" else int(value)
