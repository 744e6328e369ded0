"""What every Meta asset does around its Graph calls: a client with the tenant's token, failed
calls in ``app.api_error_log``, a rejected token flagged on the credential, per-account sync
state in ``app.meta_sync_state``."""

from collections.abc import Callable, Mapping, Sequence, Sized
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from dagster import (
    AssetExecutionContext,
    AssetsDefinition,
    Failure,
    MaterializeResult,
    MetadataValue,
    asset,
)
from sqlalchemy.engine import Engine

from adinsights_pipelines.defs.meta.client import MetaGraphClient, TokenInvalidError
from adinsights_pipelines.defs.meta.conversions import Attribution, ConversionDefinition
from adinsights_pipelines.defs.resources import (
    KeyringResource,
    MetaGraphResource,
    MetaSyncSettings,
    WarehouseResource,
)
from adinsights_pipelines.defs.tenants.partitions import tenant_partitions
from adinsights_pipelines.encryption import Keyring
from adinsights_pipelines.logs import log_context
from adinsights_pipelines.outside_apis.error_log import api_error_logger
from adinsights_pipelines.tenant_store import get_credential, mark_credential

#: Graph subcodes of code 190 that need the user to log in again (vs. a plainly bad token).
REAUTH_SUBCODES = frozenset({458, 459, 460, 463, 464, 467})


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
        on_error=api_error_logger(engine, tenant_id),
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


def fail_if_every_account_failed(
    tenant_id: str, accounts: Sized, failed: Mapping[str, str], message: str
) -> None:
    """Fail the tenant's run (``tenant <id>: <message>``, the errors by account as metadata)
    when it has accounts and each one failed; some failed accounts only fail those."""
    if accounts and len(failed) == len(accounts):
        raise Failure(
            f"tenant {tenant_id}: {message}",
            metadata={"failed_accounts": MetadataValue.json(dict(failed))},
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


def selected_ids(engine: Engine, tenant_id: str, kind: str) -> set[str] | None:
    """The ad accounts (``ad_account``) or Pages (``page``) the tenant chose to sync in the
    onboarding picker (``app.meta_selection``); None when it chose none: sync all it sees."""
    with engine.connect() as conn:
        ids: set[str] = set(
            conn.execute(
                sa.text(
                    "select object_id from app.meta_selection where tenant_id = :t and kind = :k"
                ),
                {"t": tenant_id, "k": kind},
            ).scalars()
        )
    return ids or None


def conversion_definition(
    engine: Engine, settings: MetaSyncSettings, tenant_id: str
) -> ConversionDefinition:
    """The tenant's conversion definition (``app.tenants.meta_conversion_events``), else the
    global one (``ADINSIGHTS_META_CONVERSION_EVENTS``)."""
    with engine.connect() as conn:
        own = conn.execute(
            sa.text("select meta_conversion_events from app.tenants where id = :t"),
            {"t": tenant_id},
        ).scalar_one_or_none()
    return ConversionDefinition.parse(own or settings.conversion_events)


def tenant_attribution(engine: Engine, tenant_id: str) -> Attribution:
    """The tenant's attribution setting (``app.tenants.meta_attribution_windows`` and
    ``meta_action_report_time``); unified attribution when it set none."""
    with engine.connect() as conn:
        row = conn.execute(
            sa.text(
                "select meta_attribution_windows, meta_action_report_time from app.tenants "
                "where id = :t"
            ),
            {"t": tenant_id},
        ).one_or_none()
    if row is None:
        return Attribution()
    windows = ",".join(row.meta_attribution_windows) if row.meta_attribution_windows else None
    return Attribution.parse(windows, row.meta_action_report_time)


@dataclass(frozen=True)
class MetaSync:
    """One tenant's Meta sync in progress: what an asset body works with."""

    tenant_id: str
    engine: Engine
    settings: MetaSyncSettings
    client: MetaGraphClient


def meta_asset(
    *, description: str, deps: Sequence[AssetsDefinition] = ()
) -> Callable[[Callable[[AssetExecutionContext, MetaSync], MaterializeResult]], AssetsDefinition]:
    """A tenant-partitioned asset of group ``meta`` around ``body(context, sync)``.

    The wrapper does what every Meta asset does: log lines carry the tenant and run, the
    client uses the tenant's token (a credential needing re-authorisation fails at once), and
    a token Meta rejects flags the credential and fails only this tenant, deleting nothing.
    """

    def wrap(
        body: Callable[[AssetExecutionContext, MetaSync], MaterializeResult],
    ) -> AssetsDefinition:
        @asset(
            name=body.__name__,
            partitions_def=tenant_partitions,
            group_name="meta",
            deps=list(deps),
            kinds={"python", "postgres"},
            description=description,
        )
        def _meta_asset(
            context: AssetExecutionContext,
            warehouse: WarehouseResource,
            meta: MetaGraphResource,
            keyring: KeyringResource,
        ) -> MaterializeResult:
            tenant_id = context.partition_key
            with log_context(tenant_id=tenant_id, run_id=context.run_id):
                engine, settings = warehouse.engine(), meta.sync_settings()
                client = tenant_client(engine, settings, keyring.keyring(), tenant_id)
                try:
                    with client:
                        return body(context, MetaSync(tenant_id, engine, settings, client))
                except TokenInvalidError as exc:
                    raise token_rejected(engine, tenant_id, exc) from None

        return _meta_asset

    return wrap
