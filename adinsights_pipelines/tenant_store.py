"""Tenants (agency clients) and their platform credentials in ``app.tenants``."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from adinsights_pipelines.currencies import DEFAULT_REPORTING_CURRENCY, validate_currency
from adinsights_pipelines.defs.meta.conversions import Attribution, ConversionDefinition
from adinsights_pipelines.encryption import Keyring, decrypt_token, encrypt_token
from adinsights_pipelines.errors import AdinsightsError
from adinsights_pipelines.logs import register_secret

TENANT_ID_PATTERN = re.compile(r"^[a-z0-9][a-z0-9-]{1,62}$")
PROVIDERS = ("meta", "google_ads", "ga4", "search_console")


class TenantNotFound(AdinsightsError):
    pass


@dataclass(frozen=True)
class Tenant:
    id: str
    name: str
    status: str
    created_at: datetime
    reporting_currency: str = DEFAULT_REPORTING_CURRENCY


@dataclass(frozen=True)
class Credential:
    tenant_id: str
    provider: str
    access_token: str
    token_status: str

    def __repr__(self) -> str:  # keep the token out of logs and tracebacks
        return f"Credential(tenant_id={self.tenant_id!r}, provider={self.provider!r}, token=***)"


def validate_tenant_id(tenant_id: str) -> str:
    if not TENANT_ID_PATTERN.match(tenant_id):
        raise AdinsightsError(
            f"invalid tenant id {tenant_id!r}: use 2-63 lowercase letters, digits and dashes"
        )
    return tenant_id


def add_tenant(
    conn: Connection, tenant_id: str, name: str, reporting_currency: str | None = None
) -> bool:
    """Create the tenant (or reactivate it). Returns True when it was new.

    ``reporting_currency`` (ISO 4217) defaults to JMD for a new tenant; left alone on an
    existing one unless given.
    """
    validate_tenant_id(tenant_id)
    currency = validate_currency(reporting_currency) if reporting_currency else None
    row = conn.execute(
        sa.text(
            """
            insert into app.tenants (id, name, reporting_currency)
            values (:id, :name, coalesce(:currency, :default_currency))
            on conflict (id) do update
               set name = excluded.name, status = 'active', updated_at = now(),
                   reporting_currency = coalesce(:currency, app.tenants.reporting_currency),
                   reporting_currency_set_at = case
                       when coalesce(:currency, app.tenants.reporting_currency)
                            <> app.tenants.reporting_currency then now()
                       else app.tenants.reporting_currency_set_at end
            returning (xmax = 0) as inserted
            """
        ),
        {
            "id": tenant_id,
            "name": name,
            "currency": currency,
            "default_currency": DEFAULT_REPORTING_CURRENCY,
        },
    ).one()
    return bool(row.inserted)


def update_tenant(
    conn: Connection,
    tenant_id: str,
    *,
    name: str | None = None,
    reporting_currency: str | None = None,
    conversion_events: str | None = None,
    attribution: str | None = None,
    action_report_time: str | None = None,
) -> dict[str, dict[str, str]]:
    """Change a tenant's name, reporting currency and/or Meta conversion definition; returns
    ``{field: {"from", "to"}}`` for what actually changed (empty when nothing did). A new
    reporting currency makes dbt re-convert the tenant's history on its next run; a new
    conversion definition (``"purchase,lead"``; ``"default"``: the global one) is for the
    caller to re-count (:func:`~adinsights_pipelines.defs.meta.recount.recount_conversions`);
    a new attribution setting (``attribution``: ``"7d_click,1d_view"`` or ``"unified"``,
    ``action_report_time``) for the caller to re-read from Meta."""
    require_tenant(conn, tenant_id)
    if name is not None and not name.strip():
        raise AdinsightsError("--name must not be empty")
    currency = validate_currency(reporting_currency) if reporting_currency else None
    events: list[str] | None = None
    if conversion_events is not None and conversion_events.strip() != "default":
        try:
            events = list(ConversionDefinition.parse(conversion_events).events)
        except ValueError as exc:
            raise AdinsightsError(f"--conversion-events: {exc}") from None
    before = conn.execute(
        sa.text(
            "select name, reporting_currency, meta_conversion_events, meta_attribution_windows, "
            "meta_action_report_time from app.tenants where id = :id for update"
        ),
        {"id": tenant_id},
    ).one()
    old = Attribution.parse(
        ",".join(before.meta_attribution_windows or ()) or None, before.meta_action_report_time
    )
    try:
        new = Attribution.parse(
            attribution if attribution is not None else ",".join(old.windows or ()) or None,
            action_report_time or old.report_time,
        )
    except ValueError as exc:
        raise AdinsightsError(f"attribution: {exc}") from None
    changes: dict[str, dict[str, str]] = {}
    if name is not None and name != before.name:
        changes["name"] = {"from": before.name, "to": name}
    if currency is not None and currency != before.reporting_currency:
        changes["reporting_currency"] = {"from": before.reporting_currency, "to": currency}
    if conversion_events is not None and events != before.meta_conversion_events:
        changes["meta_conversion_events"] = {
            "from": ",".join(before.meta_conversion_events or ()) or "default",
            "to": ",".join(events or ()) or "default",
        }
        conn.execute(
            sa.text(
                "update app.tenants set meta_conversion_events = :events, "
                "meta_conversion_events_set_at = now() where id = :id"
            ),
            {"id": tenant_id, "events": events},
        )
    if new != old:
        changes["meta_attribution"] = {"from": old.label, "to": new.label}
        conn.execute(
            sa.text(
                "update app.tenants set meta_attribution_windows = :windows, "
                "meta_action_report_time = :time, meta_attribution_set_at = now() where id = :id"
            ),
            {
                "id": tenant_id,
                "windows": list(new.windows) if new.windows else None,
                "time": new.report_time,
            },
        )
    if changes:
        conn.execute(
            sa.text(
                """
                update app.tenants
                   set name = coalesce(:name, name),
                       reporting_currency = coalesce(:currency, reporting_currency),
                       reporting_currency_set_at = case when :currency_changed then now()
                                                        else reporting_currency_set_at end,
                       updated_at = now()
                 where id = :id
                """
            ),
            {
                "id": tenant_id,
                "name": name,
                "currency": currency,
                "currency_changed": "reporting_currency" in changes,
            },
        )
    return changes


def reporting_currency(conn: Connection, tenant_id: str) -> str:
    require_tenant(conn, tenant_id)
    found: str = conn.execute(
        sa.text("select reporting_currency from app.tenants where id = :id"), {"id": tenant_id}
    ).scalar_one()
    return found


def deactivate_tenant(conn: Connection, tenant_id: str) -> None:
    """Stop syncing a tenant (its data stays); its Dagster partition is removed."""
    require_tenant(conn, tenant_id)
    conn.execute(
        sa.text("update app.tenants set status = 'inactive', updated_at = now() where id = :id"),
        {"id": tenant_id},
    )


def list_tenants(conn: Connection) -> list[Tenant]:
    rows = conn.execute(
        sa.text(
            "select id, name, status, created_at, reporting_currency from app.tenants order by id"
        )
    ).all()
    return [Tenant(r.id, r.name, r.status, r.created_at, r.reporting_currency) for r in rows]


def active_tenant_ids(conn: Connection) -> list[str]:
    return list(
        conn.execute(
            sa.text("select id from app.tenants where status = 'active' order by id")
        ).scalars()
    )


def require_tenant(conn: Connection, tenant_id: str) -> None:
    found = conn.execute(
        sa.text("select 1 from app.tenants where id = :id"), {"id": tenant_id}
    ).scalar()
    if not found:
        raise TenantNotFound(f"tenant {tenant_id!r} does not exist (adinsights tenants list)")


def set_credential(
    conn: Connection,
    keyring: Keyring,
    tenant_id: str,
    provider: str,
    access_token: str,
    *,
    scopes: tuple[str, ...] = (),
    expires_at: datetime | None = None,
) -> None:
    """Store the token encrypted under the tenant's data key; reset its status to valid."""
    if provider not in PROVIDERS:
        raise AdinsightsError(f"unknown provider {provider!r}; one of {', '.join(PROVIDERS)}")
    require_tenant(conn, tenant_id)
    version, ciphertext = encrypt_token(conn, keyring, tenant_id, provider, access_token)
    conn.execute(
        sa.text(
            """
            insert into app.platform_credentials (tenant_id, provider, token_ciphertext,
                                                  dek_version, scopes, token_expires_at)
            values (:t, :p, :c, :v, :scopes, :expires)
            on conflict (tenant_id, provider) do update
               set token_ciphertext = excluded.token_ciphertext,
                   dek_version = excluded.dek_version, scopes = excluded.scopes,
                   token_expires_at = excluded.token_expires_at, token_status = 'valid',
                   status_reason = null, updated_at = now()
            """
        ),
        {
            "t": tenant_id,
            "p": provider,
            "c": ciphertext,
            "v": version,
            "scopes": list(scopes),
            "expires": expires_at,
        },
    )


def get_credential(
    conn: Connection, keyring: Keyring, tenant_id: str, provider: str
) -> Credential | None:
    row = conn.execute(
        sa.text(
            """
            select tenant_id, provider, token_status, dek_version, token_ciphertext
              from app.platform_credentials where tenant_id = :t and provider = :p
            """
        ),
        {"t": tenant_id, "p": provider},
    ).one_or_none()
    if row is None:
        return None
    token = decrypt_token(
        conn, keyring, tenant_id, provider, row.dek_version, bytes(row.token_ciphertext)
    )
    register_secret(token)
    return Credential(tenant_id, provider, token, row.token_status)


def remove_credential(conn: Connection, tenant_id: str, provider: str) -> bool:
    removed = conn.execute(
        sa.text(
            "delete from app.platform_credentials where tenant_id = :t and provider = :p "
            "returning id"
        ),
        {"t": tenant_id, "p": provider},
    ).first()
    return removed is not None


def mark_credential(
    conn: Connection, tenant_id: str, provider: str, token_status: str, reason: str
) -> None:
    conn.execute(
        sa.text(
            """
            update app.platform_credentials
               set token_status = :s, status_reason = :r, updated_at = now()
             where tenant_id = :t and provider = :p
            """
        ),
        {"t": tenant_id, "p": provider, "s": token_status, "r": reason},
    )
