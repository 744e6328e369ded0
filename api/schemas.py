"""Response shapes for the OpenAPI document (``components.schemas``), as pydantic models.

Endpoints build their JSON directly (no per-request model validation: it would cost on every
call); these models only describe it. Schemathesis checks every documented answer against them,
so a shape that drifts from its model fails the suite. A new endpoint adds its models to
:data:`SCHEMA_MODELS` and refers to them as ``#/components/schemas/<ModelName>``.
"""

from __future__ import annotations

import datetime as _dt
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


class DaemonCheck(_Shape):
    status: Literal["ok", "stale", "missing"]
    detail: str
    heartbeat_age_seconds: dict[str, float | None] = Field(
        description="Per required daemon type; null when that type has no heartbeat."
    )


class HealthChecks(_Shape):
    database: DependencyCheck
    dagster_instance: DependencyCheck
    dagster_daemon: DaemonCheck | None = Field(
        default=None, description="Absent when the Dagster instance does not answer."
    )


class Health(_Shape):
    status: Literal["ok", "degraded"]
    checks: HealthChecks


# --- Meta read API ----------------------------------------------------------------------------


class MetaAccount(_Shape):
    account_id: str
    name: str | None
    currency: str
    timezone_name: str | None = Field(
        description="The account's IANA zone: Meta reports the account's days in this zone."
    )
    account_status: int | None


class _MetaObject(_Shape):
    account_id: str
    name: str | None
    status: str | None
    effective_status: str | None = Field(
        description="Meta's computed delivery status; ARCHIVED and DELETED objects are listed too."
    )
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
    """One ad x day row (``region`` null) or ad x day x region row; money and conversions as
    decimal strings (exact). Region rows have null conversions and no actions: Meta returns no
    off-Meta actions with the region breakdown."""

    account_id: str
    campaign_id: str
    adset_id: str
    ad_id: str
    date_start: date
    date_stop: date
    region: str | None
    spend: str
    impressions: int
    clicks: int
    reach: int | None
    conversions: str | None
    conversion_value: str | None
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


#: How every amount of money is answered: a decimal string in its currency's minor units,
#: rounded half up, with the currency beside it (``currency`` or ``reporting_currency``).
MONEY = "A decimal string (exact) in the currency's minor units, rounded half up."
RATIO = "A ratio, not money: a JSON number."
COUNT = "A count, not money: a JSON number (fractional for estimates and Google's figures)."


class Measures(_Shape):
    currency: str = Field(
        description="The currency of `spend`, `conversion_value` and cpc/cpm/cpa."
    )
    spend: str = Field(description=MONEY, examples=["1938.90"])
    impressions: int
    clicks: int
    conversions: float = Field(description=COUNT)
    ctr: float | None = Field(description=RATIO)
    #: The value of the conversions in ``currency``, a decimal string; absent from snapshots
    #: stored before conversion values were read.
    conversion_value: str | None = Field(default=None, examples=["4500.00"])
    cpc: str | None = Field(default=None, description="spend / clicks, in `currency`.")
    cpm: str | None = Field(default=None, description="spend x 1000 / impressions.")
    cost_per_conversion: str | None = Field(default=None, description="spend / conversions.")
    roas: float | None = Field(default=None, description="conversion_value / spend; a ratio.")
    #: The same spend in ``reporting_currency``, a decimal string (``"1938.90"``); absent from
    #: snapshots stored before reporting currencies existed.
    spend_reporting: str | None = Field(default=None, examples=["1938.90"])
    conversion_value_reporting: str | None = Field(default=None, examples=["4500.00"])
    reporting_currency: str | None = Field(default=None, examples=["JMD"])
    #: ``by_parish`` only: true when the parish's conversions include Meta's, which Meta does
    #: not report by region and which are allocated by the parish's share of clicks.
    conversions_estimated: bool | None = None


class ReportingTotal(_Shape):
    """Everything in one currency: spend as a decimal string in ``currency``."""

    currency: str = Field(examples=["JMD"])
    spend: str = Field(examples=["125431.07"])
    impressions: int
    clicks: int
    conversions: float
    ctr: float | None
    conversion_value: str | None = None
    cpc: str | None = None
    cpm: str | None = None
    cost_per_conversion: str | None = None
    roas: float | None = None


class CurrencyDay(_Shape):
    """One original currency's spend on one day and the rate that converted it."""

    currency: str
    spend: str
    fx_rate: str | None = Field(description="Units of reporting currency per 1 `currency`.")
    fx_rate_date: date | None = Field(
        description="The day the rate was published (earlier than the day when carried forward)."
    )
    spend_reporting: str | None


class DayMeasures(_Shape):
    date: _dt.date
    reporting_currency: str
    spend_reporting: str | None
    impressions: int
    clicks: int
    conversions: float
    ctr: float | None
    conversion_value_reporting: str | None = None
    cpc: str | None = None
    cpm: str | None = None
    cost_per_conversion: str | None = None
    roas: float | None = None
    by_currency: list[CurrencyDay]


class ConversionDefinitions(_Shape):
    """What a conversion is on each platform, so totals across platforms are read right."""

    meta_events: list[str] = Field(examples=[["purchase", "lead", "complete_registration"]])
    meta_attribution: str = Field(
        description="The tenant's Meta attribution setting the conversions were read under.",
        examples=["unified", "7d_click,1d_view"],
    )
    meta: str
    meta_parish: str | None = Field(
        default=None, description="How Meta's conversions are split by parish (estimates)."
    )
    google_ads: str
    ratios: str


class RatesUsed(_Shape):
    """Which exchange rates the answer was converted with."""

    sources: list[str] = Field(examples=[["openexchangerates"]])
    rates_from: date | None
    rates_to: date | None
    carried_forward_days: list[date]
    definition: str


class SnapshotPayload(_Shape):
    """Empty (``{}``) when the tenant has no snapshot yet."""

    tenant_id: str | None = None
    date_range: dict[str, date | None] | None = None
    filters: dict[str, Any] | None = None
    reporting_currency: str | None = None
    fx: RatesUsed | None = None
    definitions: ConversionDefinitions | None = None
    total_reporting: ReportingTotal | None = None
    totals: list[Measures] | None = None
    by_platform: list[Measures] | None = None
    by_campaign: list[Measures] | None = None
    by_parish: list[Measures] | None = None
    by_day: list[DayMeasures] | None = None


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
    status: Literal["not_connected", "started_not_complete", "complete", "active", "error"]
    reason: str | None
    token_status: str | None
    last_synced_at: datetime | None


class SocialStatus(_Shape):
    tenant_id: str
    platforms: list[PlatformStatus]


# --- Airbyte ----------------------------------------------------------------------------------

AirbyteStatus = Literal["ok", "stale", "no_recent_sync", "failing", "error"]


class AirbyteConnectionHealth(_Shape):
    tenant_id: str
    connection_id: str
    provider: str
    source_account_id: str | None
    status: AirbyteStatus
    last_synced_at: datetime | None = Field(description="The newest successful job's end.")
    age_minutes: float | None
    records: int | None
    bytes: int | None
    last_job_id: int | None
    last_job_status: str | None
    last_job_at: datetime | None
    error: str | None = Field(description="Why the connection is failing; null otherwise.")


class AirbyteHealth(_Shape):
    """200 when ``ok``, 503 when ``stale`` or ``no_recent_sync``, 502 when ``failing``."""

    status: AirbyteStatus = Field(description="The worst connection status.")
    tenant_id: str | None = Field(description="Null when an operator key sees every tenant.")
    checked_at: datetime
    stale_after_minutes: int
    connections: list[AirbyteConnectionHealth]


class AirbyteJob(_Shape):
    connection_id: str
    provider: str
    job_id: int
    status: str
    records_synced: int | None
    bytes_synced: int | None
    duration_seconds: float | None
    started_at: datetime | None
    finished_at: datetime | None
    error: str | None


class AirbyteTenantTelemetry(_Shape):
    tenant_id: str
    connections: int
    sync_status_state: Literal["fresh", "stale", "missing", "error"]
    sync_status_age_minutes: float | None
    last_synced_at: datetime | None
    latest_job: AirbyteJob | None


class AirbyteTelemetry(_Page):
    results: list[AirbyteTenantTelemetry]
    generated_at: datetime


class AirbyteWebhookJob(_Shape):
    """A job notification: Airbyte's ``SyncSummary`` under ``data``, or the same flat."""

    connection: dict[str, Any] | None = Field(
        default=None, description='`{"id": "<connection uuid>"}`'
    )
    connectionId: str | None = None
    jobId: int | str | None = None
    success: bool | None = None
    status: str | None = None
    startedAt: str | float | None = None
    finishedAt: str | float | None = None
    recordsEmitted: int | None = None
    recordsCommitted: int | None = None
    bytesEmitted: int | None = None
    bytesCommitted: int | None = None
    durationInSeconds: float | None = None
    errorMessage: str | None = None


class AirbyteWebhookPayload(AirbyteWebhookJob):
    """Airbyte's Slack-style notification (``text``, ``blocks``) with the job in ``data``."""

    text: str | None = None
    data: AirbyteWebhookJob | None = None


class AirbyteWebhookReceipt(_Shape):
    tenant_id: str
    connection_id: str
    job_id: int
    status: str
    duplicate: bool = Field(
        description="True when nothing was stored: this job and status were already stored, "
        "or the job already has a terminal status."
    )
    conflict: bool = Field(
        description="True when the job's stored terminal status differs from the one received "
        "(audited as airbyte_job_webhook_conflict, not applied); `status` is the stored one."
    )
    received_at: datetime


# --- ops rollups ------------------------------------------------------------------------------

SyncState = Literal["fresh", "stale", "failing", "missing", "error"]


class SyncStateCounts(_Shape):
    fresh: int
    stale: int
    failing: int
    missing: int
    error: int = Field(description="Rows that could not be interpreted (see each detail).")


class SyncConnection(_Shape):
    platform: str
    kind: Literal["meta_account", "airbyte_connection", "asset", "metrics_snapshot"]
    connection: str
    state: SyncState
    last_synced_at: datetime | None
    age_minutes: float | None
    last_job_status: str | None
    detail: str | None


class ReconciledDay(_Shape):
    account_id: str
    day: date
    detail: str = Field(examples=["spend ours 155.25 vs Meta 156.25"])


class Reconciliation(_Shape):
    """Our Meta ad rows against Meta's own account totals, per account and complete day."""

    platform: Literal["meta"]
    window_days: int
    days_compared: int
    mismatched: int = Field(description="Account-days that differ; they block the snapshot.")
    mismatches: list[ReconciledDay] = Field(description="The first 10 that differ.")


class TenantSyncHealth(_Shape):
    tenant_id: str
    state: SyncState = Field(description="The worst state of the tenant's connections.")
    counts: SyncStateCounts
    connections: list[SyncConnection]
    reconciliation: Reconciliation | None = None


class SyncHealth(_Page):
    generated_at: datetime
    counts: SyncStateCounts
    tenants: list[TenantSyncHealth]


class TimezoneMismatch(_Shape):
    tenant_id: str
    platform: Literal["meta"]
    account_id: str
    timezone_name: str


class HealthCard(_Shape):
    service: str
    status: Literal[
        "ok",
        "error",
        "missing",
        "stale",
        "failing",
        "no_recent_sync",
        "not_configured",
        "warning",
        "critical",
    ]
    detail: str
    reporting_timezone: str | None = Field(
        default=None, description="meta_sync card: the reporting zone (a setting)."
    )
    timezone_mismatch: list[TimezoneMismatch] | None = Field(
        default=None,
        description=(
            "meta_sync card: ad accounts whose zone is not the reporting zone; their days "
            "do not line up with the reports' days."
        ),
    )


class HealthOverview(_Shape):
    status: Literal["ok", "degraded"]
    generated_at: datetime
    tenant_id: str | None = Field(description="Null when an operator key sees every tenant.")
    cards: list[HealthCard]


# --- web analytics ----------------------------------------------------------------------------


class Ga4Row(_Shape):
    property_id: str
    date: date
    region: str
    session_default_channel_group: str
    sessions: int
    total_users: int
    new_users: int
    screen_page_views: int
    engaged_sessions: int
    key_events: str = Field(description="A decimal string (exact).")


class Ga4Page(_Page):
    results: list[Ga4Row]


class SearchConsoleRow(_Shape):
    site_url: str
    date: date
    query: str
    page: str
    country: str
    device: str
    clicks: int
    impressions: int
    ctr: float
    position: float
    data_state: Literal["final", "all"]


class SearchConsolePage(_Page):
    results: list[SearchConsoleRow]


class DbtHealth(_Shape):
    """The latest dbt run's results (``ok``, ``stale``: no success in 24 h, ``failing``)."""

    status: Literal["ok", "stale", "failing"]
    last_run_at: datetime | None
    last_run_id: str | None
    last_run_status: Literal["success", "failure"] | None
    duration_seconds: float | None
    dbt_elapsed_seconds: float | None
    last_success_at: datetime | None
    stale_after_hours: float
    counts: dict[str, int] = Field(description="Models by status (success, skipped, error, ...).")
    test_counts: dict[str, int] = Field(description="Tests by status (pass, fail, error, ...).")
    seed_counts: dict[str, int]
    error: str | None


# --- alerts on demand ------------------------------------------------------------------------


class AlertRuleResult(_Shape):
    subject: str = Field(description="The alert's subject, e.g. `snapshot:acme`.")
    rule: str = Field(description="freshness, snapshot, check, run, connection, webhook, ...")
    state: Literal["PASS", "WARN", "FAIL", "UNKNOWN"]
    reason: str
    transition: bool = Field(description="Its state differs from what a channel was last told.")
    delivered: list[str] = Field(description="Channels that delivered its alert in this run.")


class AlertTenantResults(_Shape):
    tenant_id: str | None = Field(description="Null for rules that are not per tenant.")
    rules: list[AlertRuleResult]


class AlertsRun(_Shape):
    evaluated_at: datetime
    channels: list[str]
    summary: str
    delivery_failed: dict[str, str] = Field(description="Channel -> reason, for failed ones.")
    tenants: list[AlertTenantResults]


# --- Meta connector lifecycle (api/routes/meta_connect.py) -----------------------------------

ConnectionStatus = Literal["not_connected", "started_not_complete", "complete", "active"]


class MetaVisibleObject(_Shape):
    id: str
    name: str | None
    selected: bool


class MetaVisibleAdAccount(MetaVisibleObject):
    currency: str | None
    timezone_name: str | None = Field(
        description="The account's IANA zone: Meta reports its days in this zone."
    )


class MetaSelection(_Shape):
    ad_accounts: list[str]
    pages: list[str]


class MetaSyncState(_Shape):
    status: Literal["running", "succeeded", "failed"] | None
    run_ids: list[str]
    requested_at: datetime
    finished_at: datetime | None


class MetaSetup(_Shape):
    tenant_id: str
    status: ConnectionStatus = Field(description="As /api/integrations/social/status/ says.")
    reason: str | None
    token_status: str | None
    last_synced_at: datetime | None
    connected: bool
    missing_permissions: list[str] = Field(description="What the last grant lacked.")
    ad_accounts: list[MetaVisibleAdAccount]
    pages: list[MetaVisibleObject]
    selected: MetaSelection
    sync: MetaSyncState | None


class MetaOAuthStart(_Shape):
    tenant_id: str
    authorize_url: str = Field(description="The Facebook Login dialog, with a signed state.")
    rerequest: bool
    state_expires_in: int


class MetaOAuthCallback(_Shape):
    tenant_id: str
    status: Literal["connected", "missing_required_permissions"]
    missing_permissions: list[str]
    scopes: list[str]
    token_expires_at: datetime | None


class MetaProvisionRequest(_Shape):
    tenant_id: str | None = None
    ad_accounts: list[str] = Field(description="act_<digits>, at least one.")
    pages: list[str] = []


class MetaSync(_Shape):
    tenant_id: str
    run_ids: list[str] = Field(description="Dagster runs: meta_sync, meta_pages, dbt, snapshot.")
    status: Literal["running"]
    already_running: bool


class MetaProvision(MetaSync):
    selected: MetaSelection


class MetaLogout(_Shape):
    tenant_id: str
    status: Literal["not_connected"]
    revoked_at_meta: bool
    revoke_error: str | None
    data_kept: bool


SCHEMA_MODELS: tuple[type[BaseModel], ...] = (
    Problem,
    Health,
    DbtHealth,
    MetaAccountPage,
    MetaCampaignPage,
    MetaAdSetPage,
    MetaAdPage,
    MetaInsightPage,
    AuditEventPage,
    CombinedMetrics,
    SocialStatus,
    AirbyteHealth,
    AirbyteTelemetry,
    AirbyteWebhookPayload,
    AirbyteWebhookReceipt,
    SyncHealth,
    HealthOverview,
    Ga4Page,
    SearchConsolePage,
    AlertsRun,
    MetaSetup,
    MetaOAuthStart,
    MetaOAuthCallback,
    MetaProvisionRequest,
    MetaProvision,
    MetaSync,
    MetaLogout,
)
