"""Hourly Meta token check: keeps ``token_status`` true and long-lived tokens long-lived."""

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from dagster import OpExecutionContext, Output, op

from adinsights_pipelines.defs.meta.client import MetaApiError
from adinsights_pipelines.defs.meta.onboarding import MetaApp, missing_permissions
from adinsights_pipelines.defs.resources import (
    KeyringResource,
    MetaGraphResource,
    WarehouseResource,
)
from adinsights_pipelines.settings import load_settings
from adinsights_pipelines.tenant_store import get_credential, mark_credential, set_credential

EXPIRING_WITHIN = timedelta(days=7)
# Graph subcodes meaning the user must log in again (expired session, changed password, ...).
REAUTH_SUBCODES = frozenset({458, 459, 460, 463, 464, 467})


def _set_expiry(conn: sa.Connection, tenant_id: str, expires_at: datetime | None) -> None:
    conn.execute(
        sa.text(
            "update app.platform_credentials set token_status = 'valid', status_reason = null, "
            "token_expires_at = :e, updated_at = now() "
            "where tenant_id = :t and provider = 'meta'"
        ),
        {"t": tenant_id, "e": expires_at},
    )


@op(description="Check every tenant's Meta token with debug_token; refresh or flag it.")
def refresh_meta_tokens(
    context: OpExecutionContext,
    warehouse: WarehouseResource,
    keyring: KeyringResource,
    meta: MetaGraphResource,
) -> Output[None]:
    where = meta.sync_settings()
    configured = MetaApp.from_settings(load_settings())
    app = MetaApp(configured.app_id, configured.app_secret, where.base_url, where.api_version)
    ring, engine = keyring.keyring(), warehouse.engine()
    with engine.connect() as conn:
        tenants: list[str] = list(
            conn.execute(
                sa.text(
                    "select tenant_id from app.platform_credentials where provider = 'meta' "
                    "and token_status in ('valid', 'expiring') order by tenant_id"
                )
            ).scalars()
        )
    counts = {"valid": 0, "refreshed": 0, "expiring": 0, "reauth_required": 0, "errors": 0}
    for tenant_id in tenants:
        with engine.connect() as conn:
            credential = get_credential(conn, ring, tenant_id, "meta")
        assert credential is not None
        try:
            info = app.inspect(credential.access_token)
            if not info.is_valid or missing_permissions(info.scopes):
                reason = (
                    "credential_reauth_required"
                    if not info.is_valid
                    else "missing_required_permissions"
                )
                with engine.begin() as conn:
                    mark_credential(conn, tenant_id, "meta", "reauth_required", reason)
                counts["reauth_required"] += 1
                context.log.warning(
                    "tenant %s: Meta token needs re-authorisation (%s)", tenant_id, reason
                )
                continue
            soon = datetime.now(UTC) + EXPIRING_WITHIN
            if info.expires_at is not None and info.expires_at < soon:
                new_token = app.exchange(credential.access_token)
                renewed = app.inspect(new_token)
                if renewed.is_valid and (renewed.expires_at is None or renewed.expires_at > soon):
                    with engine.begin() as conn:
                        set_credential(
                            conn,
                            ring,
                            tenant_id,
                            "meta",
                            new_token,
                            scopes=renewed.scopes,
                            expires_at=renewed.expires_at,
                        )
                    counts["refreshed"] += 1
                else:
                    with engine.begin() as conn:
                        mark_credential(conn, tenant_id, "meta", "expiring", "token_expiring")
                    counts["expiring"] += 1
                continue
            with engine.begin() as conn:
                _set_expiry(conn, tenant_id, info.expires_at)
            counts["valid"] += 1
        except MetaApiError as exc:
            # Meta being unavailable is not the token's fault: leave its status alone.
            counts["errors"] += 1
            context.log.warning("tenant %s: token check failed: %s", tenant_id, exc)
    context.log.info("Meta tokens checked: %s", counts)
    return Output(None, metadata={"tenants": len(tenants), **counts})
