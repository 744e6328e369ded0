"""All settings, typed, from environment variables (see ``.env.example``).

Every variable is prefixed ``ADINSIGHTS_`` except Dagster's own ``DAGSTER_HOME``. Settings are
read when a command starts, never at import time of the Dagster definitions: the code location
receives resolved values through the environment its parent process prepares.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path

from pydantic import Field, SecretStr, ValidationError, field_validator
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

    contracts_window_days: int = Field(
        default=7,
        ge=1,
        le=400,
        description="Days the data-contract asset checks compare (raw vs marts, currencies).",
    )

    audit_retention_days: int = Field(default=365, ge=1)
    audit_export_url: str | None = None

    @field_validator("meta_api_version")
    @classmethod
    def _version_shape(cls, value: str) -> str:
        if not value.startswith("v"):
            raise ValueError("must look like v21.0")
        return value

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
        name = "DAGSTER_HOME" if field == "DAGSTER_HOME" else f"ADINSIGHTS_{field.upper()}"
        raise ConfigError(f"{name}: {first['msg']}") from None
