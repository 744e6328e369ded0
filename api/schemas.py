"""Response shapes for the OpenAPI document (``components.schemas``), as pydantic models.

Endpoints build their JSON directly (no per-request model validation: it would cost on every
call); these models only describe it. Schemathesis checks every documented answer against them,
so a shape that drifts from its model fails the suite. A new endpoint adds its models to
:data:`SCHEMA_MODELS` and refers to them as ``#/components/schemas/<ModelName>``.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class _Shape(BaseModel):
    # Answers may gain fields; clients must ignore what they do not know.
    model_config = ConfigDict(extra="allow")


class Problem(_Shape):
    """RFC 9457 problem document; ``type`` is stable per kind of problem."""

    type: str = Field(examples=["https://adinsights.dev/problems/bad-request"])
    title: str
    status: int
    detail: str


# --- health ---------------------------------------------------------------------------------


class DependencyCheck(_Shape):
    status: Literal["ok", "error"]
    detail: str | None = None


class HealthChecks(_Shape):
    database: DependencyCheck
    dagster_instance: DependencyCheck


class Health(_Shape):
    status: Literal["ok", "degraded"]
    checks: HealthChecks


# --- Meta read API ----------------------------------------------------------------------------


class MetaAccount(_Shape):
    account_id: str
    name: str | None
    currency: str
    timezone_name: str | None
    account_status: int | None


class _MetaObject(_Shape):
    account_id: str
    name: str | None
    status: str | None
    effective_status: str | None
    created_time: datetime | None
    updated_time: datetime | None


class MetaCampaign(_MetaObject):
    campaign_id: str
    objective: str | None
    daily_budget: str | None = Field(description="Minor units of the account currency.")


class MetaAdSet(_MetaObject):
    adset_id: str
    campaign_id: str
    daily_budget: str | None = Field(description="Minor units of the account currency.")


class MetaAd(_MetaObject):
    ad_id: str
    adset_id: str
    campaign_id: str


class MetaInsight(_Shape):
    """One ad x day x region row; money and conversions as decimal strings (exact)."""

    account_id: str
    campaign_id: str
    adset_id: str
    ad_id: str
    date_start: date
    date_stop: date
    region: str
    spend: str
    impressions: int
    clicks: int
    reach: int
    conversions: str
    actions: list[Any]
    currency: str


class _Page(_Shape):
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next page; null on the last page."
    )


class MetaAccountPage(_Page):
    results: list[MetaAccount]


class MetaCampaignPage(_Page):
    results: list[MetaCampaign]


class MetaAdSetPage(_Page):
    results: list[MetaAdSet]


class MetaAdPage(_Page):
    results: list[MetaAd]


class MetaInsightPage(_Page):
    results: list[MetaInsight]


# --- audit log --------------------------------------------------------------------------------


class AuditEvent(_Shape):
    id: int
    tenant_id: str | None
    actor: str
    action: str
    resource_type: str
    resource_id: str | None
    metadata: dict[str, Any]
    created_at: datetime


class AuditEventPage(_Page):
    results: list[AuditEvent]


# --- metrics snapshot -------------------------------------------------------------------------


class Measures(_Shape):
    currency: str
    spend: float
    impressions: int
    clicks: int
    conversions: float
    ctr: float | None


class SnapshotPayload(_Shape):
    """Empty (``{}``) when the tenant has no snapshot yet."""

    tenant_id: str | None = None
    date_range: dict[str, date | None] | None = None
    filters: dict[str, Any] | None = None
    totals: list[Measures] | None = None
    by_platform: list[Measures] | None = None
    by_campaign: list[Measures] | None = None
    by_parish: list[Measures] | None = None


class Materialization(_Shape):
    run_id: str
    materialized_at: datetime


class CombinedMetrics(_Shape):
    tenant_id: str
    source: Literal["warehouse"]
    cached: bool
    snapshot_generated_at: datetime | None
    snapshot_age_minutes: float | None
    materialization: Materialization | None
    payload: SnapshotPayload


# --- social status ----------------------------------------------------------------------------


class PlatformStatus(_Shape):
    platform: Literal["meta", "google_ads", "ga4", "search_console"]
    status: Literal["not_connected", "started_not_complete", "complete", "active"]
    reason: str | None
    token_status: str | None
    last_synced_at: datetime | None


class SocialStatus(_Shape):
    tenant_id: str
    platforms: list[PlatformStatus]


SCHEMA_MODELS: tuple[type[BaseModel], ...] = (
    Problem,
    Health,
    MetaAccountPage,
    MetaCampaignPage,
    MetaAdSetPage,
    MetaAdPage,
    MetaInsightPage,
    AuditEventPage,
    CombinedMetrics,
    SocialStatus,
)
