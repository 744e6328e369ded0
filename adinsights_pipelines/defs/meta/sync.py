"""What every Meta asset does around its Graph calls: a client with the tenant's token, failed
calls in ``app.api_error_log``, a rejected token flagged on the credential, per-account sync
state in ``app.meta_sync_state``."""

from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from dagster import Failure
from sqlalchemy.engine import Engine

from adinsights_pipelines.defs.meta.client import ApiCallFailure, MetaGraphClient, TokenInvalidError
from adinsights_pipelines.defs.resources import MetaSyncSettings
from adinsights_pipelines.encryption import Keyring
from adinsights_pipelines.tenants import get_credential, mark_credential

#: Graph subcodes of code 190 that need the user to log in again (vs. a plainly bad token).
REAUTH_SUBCODES = frozenset({458, 459, 460, 463, 464, 467})


def error_logger(engine: Engine, tenant_id: str) -> Callable[[ApiCallFailure], None]:
    """Every failed Graph call goes to ``app.api_error_log`` in its own transaction."""

    def log_failure(failure: ApiCallFailure) -> None:
        with engine.begin() as conn:
            conn.execute(
                sa.text(
                    """
                    insert into app.api_error_log (provider, tenant_id, endpoint, http_status,
                        error_code, error_subcode, message, is_retryable, occurred_at)
                    values (:provider, :tenant_id, :endpoint, :http_status, :code, :subcode,
                        :message, :is_retryable, :occurred_at)
                    """
                ),
                {
                    "provider": failure.provider,
                    "tenant_id": tenant_id,
                    "endpoint": failure.endpoint,
                    "http_status": failure.http_status,
                    "code": failure.code,
                    "subcode": failure.subcode,
                    "message": failure.message,
                    "is_retryable": failure.is_retryable,
                    "occurred_at": failure.occurred_at,
                },
            )

    return log_failure


def tenant_client(
    engine: Engine, meta: MetaSyncSettings, ring: Keyring, tenant_id: str
) -> MetaGraphClient:
    """A Graph client with the tenant's Meta token; fails when it needs re-authorisation."""
    with engine.connect() as conn:
        credential = get_credential(conn, ring, tenant_id, "meta")
    if credential is None:
        raise Failure(f"tenant {tenant_id} has no Meta credential")
    if credential.token_status in ("invalid", "reauth_required"):
        raise Failure(
            f"tenant {tenant_id}: Meta credential needs re-authorisation "
            f"(token_status={credential.token_status}); reconnect Meta, then re-run"
        )
    return MetaGraphClient(
        credential.access_token,
        base_url=meta.base_url,
        api_version=meta.api_version,
        on_error=error_logger(engine, tenant_id),
        timeout=meta.request_timeout_seconds,
        backoff_base=meta.retry_base_seconds,
    )


def token_rejected(engine: Engine, tenant_id: str, exc: TokenInvalidError) -> Failure:
    """Flag the credential (no data is deleted); the Failure for the asset to raise."""
    status = "reauth_required" if exc.subcode in REAUTH_SUBCODES else "invalid"
    with engine.begin() as conn:
        mark_credential(conn, tenant_id, "meta", status, "credential_reauth_required")
    return Failure(
        f"tenant {tenant_id}: Meta rejected the access token (code {exc.code}, "
        f"subcode {exc.subcode}); credential marked {status}, no data deleted"
    )


def set_sync_state(engine: Engine, tenant_id: str, account_id: str, status: str, **kw: Any) -> None:
    """Upsert an account's ``app.meta_sync_state`` (``through``: the last day now loaded)."""
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                """
                insert into app.meta_sync_state as s
                    (tenant_id, account_id, last_job_status, last_job_error, last_synced_at,
                     last_success_at, synced_through)
                values (:t, :a, :status, :error, now(),
                        case when :status = 'succeeded' then now() end, :through)
                on conflict (tenant_id, account_id) do update set
                    last_job_status = excluded.last_job_status,
                    last_job_error = excluded.last_job_error,
                    last_synced_at = now(),
                    last_success_at = coalesce(excluded.last_success_at, s.last_success_at),
                    synced_through = coalesce(excluded.synced_through, s.synced_through),
                    updated_at = now()
                """
            ),
            {
                "t": tenant_id,
                "a": account_id,
                "status": status,
                "error": kw.get("error"),
                "through": kw.get("through"),
            },
        )
