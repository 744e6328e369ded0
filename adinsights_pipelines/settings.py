"""All settings, typed, from environment variables (see ``.env.example``).

Every variable is prefixed ``ADINSIGHTS_`` except Dagster's own ``DAGSTER_HOME``. Settings are
read when a command starts, never at import time of the Dagster definitions: the code location
receives resolved values through the environment its parent process prepares.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from adinsights_pipelines.errors import ConfigError

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="ADINSIGHTS_", env_file=None, extra="ignore", frozen=True
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
        default=None, description="Meta app id: checks (debug_token) and exchanges tokens."
    )
    meta_app_secret: SecretStr | None = None
    meta_graph_url: str = "https://graph.facebook.com"
    meta_api_version: str = "v21.0"
    meta_insights_lookback_days: int = Field(default=28, ge=1, le=395)
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

    @field_validator("meta_api_version")
    @classmethod
    def _version_shape(cls, value: str) -> str:
        if not value.startswith("v"):
            raise ValueError("must look like v21.0")
        return value

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
        # Fields read under an alias report it (DAGSTER_HOME, AIRBYTE_WEBHOOK_SECRET...).
        aliased = field == "DAGSTER_HOME" or field.upper().startswith(("ADINSIGHTS_", "AIRBYTE_"))
        name = field.upper() if aliased else f"ADINSIGHTS_{field.upper()}"
        raise ConfigError(f"{name}: {first['msg']}") from None
