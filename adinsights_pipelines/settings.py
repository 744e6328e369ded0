"""All settings, typed, from environment variables (see ``.env.example``).

Every variable is prefixed ``ADINSIGHTS_`` except Dagster's own ``DAGSTER_HOME``; the API's edge
settings also answer to the runbook's names (``CORS_ALLOWED_ORIGINS``, ``THROTTLE_AUTH_BURST``…,
and the older ``DRF_THROTTLE_*``), the prefixed name winning when both are set. Settings are
read when a command starts, never at import time of the Dagster definitions: the code location
receives resolved values through the environment its parent process prepares.
"""

from __future__ import annotations

import re
from datetime import date
from functools import cached_property
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AliasChoices, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from adinsights_pipelines.errors import ConfigError

PROJECT_ROOT = Path(__file__).resolve().parent.parent
_ORIGIN = re.compile(
    r"^https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?$|^https?://\[[0-9A-Fa-f:.]+\](:[0-9]{1,5})?$"
)


def _env(name: str, *older: str) -> AliasChoices:
    """``ADINSIGHTS_<NAME>`` first, then the runbook's unprefixed names."""
    return AliasChoices(f"ADINSIGHTS_{name}", name, *older)


def _rate(value: str) -> str:
    """A throttle budget as the ``limits`` library reads it ("30/minute"); empty turns it off."""
    from limits import parse_many

    value = value.strip()
    if value:
        try:
            parse_many(value)
        except ValueError:
            raise ValueError(f"{value!r} is not a rate like 30/minute or 1000/day") from None
    return value


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="ADINSIGHTS_",
        env_file=None,
        extra="ignore",
        frozen=True,
        populate_by_name=True,
    )

    database_url: str | None = Field(
        default=None,
        description="Warehouse PostgreSQL URL. Unset: an embedded PostgreSQL in data_dir.",
    )
    data_dir: Path = Field(default=PROJECT_ROOT / ".adinsights")
    dagster_home: Path | None = Field(
        default=None,
        validation_alias="DAGSTER_HOME",
        description="Dagster instance folder. Unset: <data_dir>/dagster_home.",
    )

    api_host: str = "127.0.0.1"
    api_port: int = Field(default=8000, ge=1, le=65535)
    dagster_port: int = Field(default=3000, ge=1, le=65535)
    meta_sim_port: int = Field(default=8010, ge=0, le=65535)
    google_sim_port: int = Field(default=8012, ge=0, le=65535)

    master_key: SecretStr | None = Field(
        default=None, description="32 random bytes, base64: wraps every tenant's data key."
    )
    master_key_previous: SecretStr | None = Field(
        default=None, description="Comma-separated earlier master keys, during a rotation."
    )

    meta_app_id: str | None = Field(
        default=None,
        validation_alias=_env("META_APP_ID"),
        description="Meta app id: checks (debug_token) and exchanges tokens.",
    )
    meta_app_secret: SecretStr | None = Field(
        default=None, validation_alias=_env("META_APP_SECRET")
    )
    meta_graph_url: str = "https://graph.facebook.com"
    #: The Graph / Marketing API version called; see defs/meta/graph_versions.toml.
    meta_api_version: str = "v26.0"
    meta_insights_lookback_days: int = Field(default=28, ge=1, le=395)
    #: The events counted as conversions for a tenant that names none (comma-separated action
    #: type names; see defs/meta/conversions.py): each counted once, through its alias family.
    meta_conversion_events: str = "purchase,lead,complete_registration"
    #: History an account's first sync loads, through async report runs when it reaches past
    #: the lookback window (Meta keeps 37 months).
    meta_initial_sync_days: int = Field(default=90, ge=1, le=1100)
    meta_backfill_chunk_days: int = Field(default=7, ge=1, le=90)
    meta_report_concurrency: int = Field(default=3, ge=1, le=25)
    #: First wait between report-run status polls; it doubles up to 30 s.
    meta_report_poll_seconds: float = Field(default=2.0, gt=0, le=60)
    meta_report_timeout_seconds: float = Field(default=3600.0, gt=0)
    meta_request_timeout_seconds: float = Field(default=30.0, gt=0, le=600)
    #: Retry back-off unit: the n-th retry waits a random 0..base * 2**n seconds (max 60 s).
    meta_retry_base_seconds: float = Field(default=1.0, gt=0, le=60)

    airbyte_url: str = Field(
        default="http://localhost:8000",
        description="Airbyte server root: the client calls <url>/api/public/v1 and <url>/api/v1.",
    )
    airbyte_workspace_id: str | None = None
    airbyte_client_id: str | None = Field(
        default=None, description="Airbyte application credentials; unset for an OSS install."
    )
    airbyte_client_secret: SecretStr | None = None
    airbyte_poll_interval_seconds: float = Field(default=10.0, gt=0, le=3600)
    airbyte_sync_timeout_seconds: float = Field(
        default=3600.0, gt=0, description="A job still running after this long is cancelled."
    )
    airbyte_request_max_retries: int = Field(default=3, ge=0, le=20)
    airbyte_request_retry_delay_seconds: float = Field(default=1.0, ge=0, le=60)
    airbyte_sim_port: int = Field(default=8011, ge=0, le=65535)
    # The runbook's names (AIRBYTE_WEBHOOK_SECRET...) are accepted as well as ours.
    airbyte_webhook_secret: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices(
            "ADINSIGHTS_AIRBYTE_WEBHOOK_SECRET", "AIRBYTE_WEBHOOK_SECRET"
        ),
    )
    airbyte_webhook_secret_required: bool = Field(
        default=True,
        validation_alias=AliasChoices(
            "ADINSIGHTS_AIRBYTE_WEBHOOK_SECRET_REQUIRED", "AIRBYTE_WEBHOOK_SECRET_REQUIRED"
        ),
    )

    google_client_id: str | None = Field(
        default=None, description="Google OAuth client: exchanges refresh tokens for access tokens."
    )
    google_client_secret: SecretStr | None = None
    google_oauth_token_url: str = "https://oauth2.googleapis.com/token"  # noqa: S105 - a URL
    ga4_api_url: str = "https://analyticsdata.googleapis.com"
    search_console_api_url: str = "https://www.googleapis.com"
    ga4_lookback_days: int = Field(default=3, ge=1, le=90)
    search_console_lookback_days: int = Field(default=5, ge=1, le=480)
    search_console_data_state: Literal["all", "final"] = "all"
    ga4_page_size: int = Field(default=100_000, ge=1, le=250_000)
    search_console_row_limit: int = Field(default=25_000, ge=1, le=25_000)
    google_backoff_max_s: float = Field(default=60.0, gt=0, le=600)

    contracts_window_days: int = Field(
        default=7,
        ge=1,
        le=400,
        description="Days the data-contract asset checks compare (raw vs marts, currencies).",
    )

    audit_retention_days: int = Field(default=365, ge=1)
    audit_export_url: str | None = None

    #: Slack incoming-webhook URL for alerts (a secret: it is the credential). Unset: no Slack.
    alert_slack_webhook_url: SecretStr | None = None
    #: SMTP relay for alert email. Unset host: no email.
    alert_smtp_host: str | None = None
    alert_smtp_port: int = Field(default=587, ge=1, le=65535)
    alert_smtp_starttls: bool = True
    alert_smtp_username: str | None = None
    alert_smtp_password: SecretStr | None = None
    alert_email_from: str = "adinsights-alerts@localhost"
    #: Comma-separated recipients.
    alert_email_to: str = ""
    #: Comma-separated Prometheus endpoints (each API replica's /metrics/app/) whose request
    #: counters feed the error-rate alert. Unset: that alert is skipped.
    alert_metrics_urls: str = ""
    #: Base URL of the Dagster UI, for links in alerts (e.g. https://dagster.example.com).
    dagster_ui_url: str | None = None
    #: Superset's /health URL for the health overview; unset: the card says not_configured.
    superset_health_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("ADINSIGHTS_SUPERSET_HEALTH_URL", "SUPERSET_HEALTH_URL"),
    )

    # --- API edge (runbook "API Edge Controls") ---
    cors_allowed_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        validation_alias=_env("CORS_ALLOWED_ORIGINS"),
        description="Comma-separated full origins (https://app.example.com) allowed by CORS.",
    )
    cors_allow_all_origins: bool = Field(
        default=False, validation_alias=_env("CORS_ALLOW_ALL_ORIGINS")
    )
    # Budgets per API key (burst = short window, sustained = long window), per client address
    # for requests to authenticated endpoints, and per address for public endpoints.
    throttle_auth_burst: str = Field(
        default="120/minute",
        validation_alias=_env("THROTTLE_AUTH_BURST", "DRF_THROTTLE_AUTH_BURST"),
    )
    throttle_auth_sustained: str = Field(
        default="20000/day",
        validation_alias=_env("THROTTLE_AUTH_SUSTAINED", "DRF_THROTTLE_AUTH_SUSTAINED"),
    )
    throttle_address_burst: str = Field(
        default="600/minute", validation_alias=_env("THROTTLE_ADDRESS_BURST")
    )
    throttle_address_sustained: str = Field(
        default="200000/day", validation_alias=_env("THROTTLE_ADDRESS_SUSTAINED")
    )
    throttle_public: str = Field(
        default="60/minute", validation_alias=_env("THROTTLE_PUBLIC", "DRF_THROTTLE_PUBLIC")
    )
    throttle_storage_uri: str = Field(
        default="memory://",
        validation_alias=_env("THROTTLE_STORAGE_URI"),
        description="limits storage: memory:// (per process) or redis://host:6379 (shared).",
    )
    trusted_proxies: str = Field(
        default="",
        description="Comma-separated proxy addresses/networks whose X-Forwarded-For is believed.",
    )
    api_access_log: bool = True
    metrics_cache_seconds: float = Field(default=10.0, ge=0, le=300)
    #: ``adinsights alerts run`` / ``POST /api/alerts/run/``: at most one on-demand evaluation
    #: per this many seconds (shared by the CLI and every API replica, through the warehouse).
    alerts_run_min_interval_seconds: float = Field(default=15.0, ge=0, le=3600)
    #: The webhook-silence alert fires when no ``airbyte_job_webhook`` audit event arrived for
    #: this many minutes while Airbyte jobs were started in that window.
    alert_webhook_silence_minutes: float = Field(default=30.0, gt=0, le=1440)

    # --- Meta connector lifecycle (Facebook Login; runbook names accepted) ---
    meta_login_config_id: str | None = Field(
        default=None,
        validation_alias=_env("META_LOGIN_CONFIG_ID"),
        description="Facebook Login for Business configuration id (sent as config_id).",
    )
    meta_login_config_required: bool = Field(
        default=False, validation_alias=_env("META_LOGIN_CONFIG_REQUIRED")
    )
    meta_oauth_redirect_uri: str | None = Field(
        default=None,
        validation_alias=_env("META_OAUTH_REDIRECT_URI"),
        description="Where Facebook Login returns; unset: <FRONTEND_BASE_URL>/api/integrations/"
        "meta/oauth/callback/.",
    )
    frontend_base_url: str | None = Field(
        default=None,
        validation_alias=_env("FRONTEND_BASE_URL"),
        description="Public base URL of the onboarding pages (onboarding links point there).",
    )
    meta_oauth_scopes: str = Field(
        default="ads_read,business_management,pages_read_engagement,pages_show_list",
        validation_alias=_env("META_OAUTH_SCOPES"),
        description="Comma-separated permissions the Login dialog asks for.",
    )
    #: Facebook's web host for the Login dialog (the simulator's URL in dev and tests).
    meta_dialog_url: str = Field(
        default="https://www.facebook.com", validation_alias=_env("META_DIALOG_URL")
    )
    onboarding_link_hours: float = Field(default=72.0, gt=0, le=24 * 30)
    #: A manual Meta sync of a tenant at most this often (POST /api/integrations/meta/sync/).
    meta_manual_sync_min_interval_seconds: float = Field(default=300.0, ge=0, le=86400)

    # Hardening (issue 21): the webhook's own edge, the daemon watch, a private /metrics/app/.
    airbyte_webhook_max_body_bytes: int = Field(
        default=1024 * 1024, ge=1024, description="Largest webhook body accepted (else 413)."
    )
    throttle_webhook: str = Field(
        default="300/minute",
        validation_alias=_env("THROTTLE_WEBHOOK"),
        description="Per-address budget of the Airbyte webhook, apart from probes and scrapes.",
    )
    daemon_heartbeat_stale_seconds: float = Field(
        default=90.0,
        gt=0,
        description="A Dagster daemon heartbeat older than this makes /api/health/ answer 503.",
    )
    metrics_access: Literal["public", "operator", "addresses"] = Field(
        default="public",
        description="Who may read /metrics/app/: anyone, operator API keys, or listed addresses.",
    )
    metrics_allowed_addresses: str = Field(
        default="",
        description="Comma-separated client addresses/networks for metrics_access=addresses.",
    )
    metrics_tenant_labels: Literal["plain", "hashed", "dropped"] = Field(
        default="plain",
        description="tenant_id labels on a public /metrics/app/: as is, hashed, or left out.",
    )

    @field_validator("throttle_webhook")
    @classmethod
    def _webhook_rate(cls, value: str) -> str:
        return _rate(value)

    # --- Exchange rates (fx_rates_daily) ---
    #: ``openexchangerates``: the HTTP API below, daily; ``csv``: only rates imported with
    #: ``adinsights fx-rates import`` (the daily run then only carries rates forward).
    fx_provider: Literal["openexchangerates", "csv"] = "openexchangerates"
    fx_api_url: str = "https://openexchangerates.org/api"
    #: Open Exchange Rates' App ID (a credential; sent as the ``app_id`` query parameter).
    fx_app_id: SecretStr | None = None
    #: Currencies stored besides those in use (tenants' reporting and ad accounts' currencies).
    fx_currencies: str = "JMD,EUR,GBP,CAD"
    #: Recent days fetched again on every run, to pick up the provider's corrections.
    fx_reread_days: int = Field(default=3, ge=0, le=60)
    #: A day without a published rate takes the last one at most this many days older.
    fx_max_carry_days: int = Field(default=5, ge=0, le=31)
    #: First day of rates; unset: the first day of any tenant's ad data.
    fx_history_start: date | None = None
    fx_request_timeout_seconds: float = Field(default=30.0, gt=0, le=600)
    fx_sim_port: int = Field(default=8013, ge=0, le=65535)

    # --- Reporting zone ---
    #: The IANA zone whose days a tenant's reports use. Ad accounts in another zone report
    #: their own days (Meta and Google Ads do), which do not line up with these: the health
    #: overview lists them (``timezone_mismatch`` on the meta_sync card).
    reporting_timezone: str = "America/Jamaica"

    @field_validator("reporting_timezone")
    @classmethod
    def _iana_zone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"{value!r} is not an IANA time zone like America/Jamaica") from None
        return value

    @field_validator("cors_allowed_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("cors_allowed_origins")
    @classmethod
    def _full_origins(cls, value: list[str]) -> list[str]:
        for origin in value:
            if not _ORIGIN.match(origin):
                raise ValueError(f"{origin!r} is not a full origin like https://app.example.com")
        return value

    @field_validator(
        "throttle_auth_burst",
        "throttle_auth_sustained",
        "throttle_address_burst",
        "throttle_address_sustained",
        "throttle_public",
    )
    @classmethod
    def _rates(cls, value: str) -> str:
        return _rate(value)

    @field_validator("fx_history_start", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        return None if value == "" else value

    @field_validator("meta_conversion_events")
    @classmethod
    def _conversion_events(cls, value: str) -> str:
        from adinsights_pipelines.defs.meta.conversions import ConversionDefinition

        return ConversionDefinition.parse(value).text

    @field_validator("meta_api_version")
    @classmethod
    def _version_shape(cls, value: str) -> str:
        if not value.startswith("v"):
            raise ValueError("must look like v26.0")
        return value

    @property
    def fx_currency_list(self) -> list[str]:
        return [c.strip().upper() for c in self.fx_currencies.split(",") if c.strip()]

    @property
    def alert_email_recipients(self) -> list[str]:
        return [a.strip() for a in self.alert_email_to.split(",") if a.strip()]

    @property
    def alert_metrics_url_list(self) -> list[str]:
        return [u.strip() for u in self.alert_metrics_urls.split(",") if u.strip()]

    @cached_property
    def resolved_dagster_home(self) -> Path:
        return (self.dagster_home or self.data_dir / "dagster_home").resolve()


def load_settings() -> Settings:
    """Read settings from the environment, turning validation errors into one line."""
    try:
        return Settings()
    except ValidationError as exc:
        first = exc.errors()[0]
        field = str(first["loc"][0]) if first["loc"] else "settings"
        # aliased fields report the variable's own name (DAGSTER_HOME, CORS_ALLOWED_ORIGINS…)
        name = field if field.isupper() else f"ADINSIGHTS_{field.upper()}"
        raise ConfigError(f"{name}: {first['msg']}") from None
