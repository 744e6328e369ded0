"""The per-tenant metrics snapshot: what ``/api/metrics/combined/`` serves.

Pure SQL over the dbt marts. The snapshot asset stores the unfiltered payload in
``app.metrics_snapshots``; filtered API calls compute the same payload live and store nothing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

MART = "marts.fct_ad_performance_daily"
MEASURES = (
    "sum(spend) as spend, sum(impressions) as impressions, sum(clicks) as clicks, "
    "sum(conversions) as conversions, count(*) as rows"
)


@dataclass(frozen=True)
class SnapshotFilters:
    start_date: date | None = None
    end_date: date | None = None
    parish: str | None = None

    @property
    def is_empty(self) -> bool:
        return self.start_date is None and self.end_date is None and self.parish is None


@dataclass(frozen=True)
class StoredSnapshot:
    tenant_id: str
    payload: dict[str, Any]
    row_totals: dict[str, Any]
    snapshot_generated_at: datetime
    #: The Dagster run that stored it; ``None`` when the API recomputed it (``cache=false``).
    dagster_run_id: str | None = None


def _where(tenant_id: str, filters: SnapshotFilters) -> tuple[str, dict[str, Any]]:
    clauses = ["tenant_id = :tenant_id"]
    params: dict[str, Any] = {"tenant_id": tenant_id}
    if filters.start_date:
        clauses.append("date_day >= :start_date")
        params["start_date"] = filters.start_date
    if filters.end_date:
        clauses.append("date_day <= :end_date")
        params["end_date"] = filters.end_date
    if filters.parish:
        clauses.append("lower(parish) = lower(:parish)")
        params["parish"] = filters.parish
    return " and ".join(clauses), params


def _measures(row: Any) -> dict[str, Any]:
    impressions, clicks = int(row.impressions or 0), int(row.clicks or 0)
    return {
        "spend": _money(row.spend),
        "impressions": impressions,
        "clicks": clicks,
        "conversions": _money(row.conversions),
        "ctr": round(clicks / impressions, 6) if impressions else None,
    }


def _money(value: Decimal | None) -> float:
    return float(round(value or Decimal(0), 2))


def compute_payload(
    conn: Connection, tenant_id: str, filters: SnapshotFilters | None = None
) -> tuple[dict[str, Any], dict[str, int]]:
    """(payload, row_totals) for one tenant. Spend is never summed across currencies."""
    filters = filters or SnapshotFilters()
    where, params = _where(tenant_id, filters)

    def grouped(columns: str, order: str) -> list[Any]:
        return list(
            conn.execute(
                sa.text(
                    f"select {columns}, {MEASURES} from {MART} where {where} "
                    f"group by {columns} order by {order}"
                ),
                params,
            ).all()
        )

    by_currency = grouped("currency", "currency")
    span = conn.execute(
        sa.text(f"select min(date_day) as lo, max(date_day) as hi from {MART} where {where}"),
        params,
    ).one()
    payload = {
        "tenant_id": tenant_id,
        "date_range": {
            "start": span.lo.isoformat() if span.lo else None,
            "end": span.hi.isoformat() if span.hi else None,
        },
        "filters": {
            "start_date": filters.start_date.isoformat() if filters.start_date else None,
            "end_date": filters.end_date.isoformat() if filters.end_date else None,
            "parish": filters.parish,
        },
        "totals": [{"currency": r.currency, **_measures(r)} for r in by_currency],
        "by_platform": [
            {"platform": r.platform, "currency": r.currency, **_measures(r)}
            for r in grouped("platform, currency", "platform, currency")
        ],
        "by_campaign": [
            {
                "platform": r.platform,
                "campaign_id": r.campaign_id,
                "campaign_name": r.campaign_name,
                "currency": r.currency,
                **_measures(r),
            }
            for r in grouped(
                "platform, campaign_id, campaign_name, currency", "spend desc, campaign_id"
            )
        ],
        "by_parish": [
            {"parish": r.parish, "currency": r.currency, **_measures(r)}
            for r in grouped("parish, currency", "spend desc, parish")
        ],
    }
    row_totals = {"fct_ad_performance_daily": sum(int(r.rows) for r in by_currency)}
    return payload, row_totals


def store_snapshot(
    conn: Connection,
    tenant_id: str,
    payload: dict[str, Any],
    row_totals: dict[str, int],
    *,
    duration_ms: int,
    dagster_run_id: str | None,
) -> datetime:
    """Replace the tenant's stored snapshot; returns the new ``snapshot_generated_at``."""
    generated_at: datetime = conn.execute(
        sa.text(
            """
            insert into app.metrics_snapshots (tenant_id, payload, row_totals,
                snapshot_generated_at, duration_ms, dagster_run_id)
            values (:t, cast(:p as jsonb), cast(:rt as jsonb), now(), :d, :run)
            on conflict (tenant_id) do update set
                payload = excluded.payload, row_totals = excluded.row_totals,
                snapshot_generated_at = excluded.snapshot_generated_at,
                duration_ms = excluded.duration_ms, dagster_run_id = excluded.dagster_run_id
            returning snapshot_generated_at
            """
        ),
        {
            "t": tenant_id,
            "p": json.dumps(payload),
            "rt": json.dumps(row_totals),
            "d": duration_ms,
            "run": dagster_run_id,
        },
    ).scalar_one()
    return generated_at


def load_snapshot(conn: Connection, tenant_id: str) -> StoredSnapshot | None:
    row = conn.execute(
        sa.text(
            "select tenant_id, payload, row_totals, snapshot_generated_at, dagster_run_id "
            "from app.metrics_snapshots where tenant_id = :t"
        ),
        {"t": tenant_id},
    ).one_or_none()
    return StoredSnapshot(**row._mapping) if row else None
