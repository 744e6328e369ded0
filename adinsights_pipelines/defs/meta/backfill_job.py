"""Operator backfills of a tenant's Meta insights for a date range.

The same :func:`backfill_tenant` serves the ``meta_insights_backfill`` job (launched from the
Dagster UI with a small config) and ``adinsights meta-backfill``. A backfill does not move an
account's incremental sync state; what it loads is upserted by natural key like every sync.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from dagster import (
    AssetMaterialization,
    Config,
    Failure,
    MetadataValue,
    OpExecutionContext,
    job,
    op,
)
from sqlalchemy.engine import Engine

from adinsights_pipelines.defs.meta.assets import JAMAICA
from adinsights_pipelines.defs.meta.backfill import (
    backfill_account,
    backfill_window,
    earliest_allowed,
    settings_options,
)
from adinsights_pipelines.defs.meta.client import MetaApiError, TokenInvalidError
from adinsights_pipelines.defs.meta.loading import load_level_insights
from adinsights_pipelines.defs.meta.sync import (
    conversion_definition,
    tenant_attribution,
    tenant_client,
    token_rejected,
)
from adinsights_pipelines.defs.resources import (
    KeyringResource,
    MetaGraphResource,
    MetaSyncSettings,
    WarehouseResource,
)
from adinsights_pipelines.encryption import Keyring
from adinsights_pipelines.errors import AdinsightsError
from adinsights_pipelines.logs import log_context
from adinsights_pipelines.services.audit_trail import AuditSubject


@dataclass
class TenantBackfill:
    tenant_id: str
    since: date
    until: date
    rows: dict[str, int] = field(default_factory=dict)
    chunks_skipped: dict[str, int] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)

    @property
    def total_rows(self) -> int:
        return sum(self.rows.values())


def backfill_tenant(
    engine: Engine,
    settings: MetaSyncSettings,
    ring: Keyring,
    tenant_id: str,
    since: date,
    until: date,
    *,
    account_ids: Sequence[str] = (),
    progress: Callable[[str], None] = lambda message: None,
) -> TenantBackfill:
    """Load ``since``..``until`` for the tenant's ad accounts (or ``account_ids``).

    Raises :class:`AdinsightsError` for a bad range or unknown accounts, and a Dagster
    ``Failure`` when Meta rejects the token (the credential is flagged first). An account
    that fails is reported in ``failed`` while the others go on.
    """
    try:
        backfill_window(datetime.now(JAMAICA).date(), since, until)
    except ValueError as exc:
        raise AdinsightsError(str(exc)) from None
    wanted = {a.removeprefix("act_") for a in account_ids}
    with engine.connect() as conn:
        accounts = [
            (row.account_id, row.currency)
            for row in conn.execute(
                sa.text(
                    "select account_id, currency from raw.meta_ad_accounts "
                    "where tenant_id = :t order by account_id"
                ),
                {"t": tenant_id},
            )
            if not wanted or row.account_id.removeprefix("act_") in wanted
        ]
    missing = wanted - {a.removeprefix("act_") for a, _ in accounts}
    if missing:
        raise AdinsightsError(
            f"tenant {tenant_id} has no Meta ad account(s) "
            f"{', '.join('act_' + a for a in sorted(missing))}; "
            "sync meta_ad_accounts first"
        )
    if not accounts:
        raise AdinsightsError(f"tenant {tenant_id} has no Meta ad accounts; sync them first")

    report = TenantBackfill(tenant_id, since, until)
    client = tenant_client(engine, settings, ring, tenant_id)
    definition = conversion_definition(engine, settings, tenant_id)
    attribution = tenant_attribution(engine, tenant_id)
    with client:
        for account_id, currency in accounts:
            progress(f"{account_id}: backfilling {since}..{until}")
            try:
                result = backfill_account(
                    engine,
                    client,
                    tenant_id,
                    account_id,
                    currency,
                    since,
                    until,
                    **settings_options(settings),
                    progress=progress,
                    definition=definition,
                    attribution=attribution,
                )
                # the campaign and account totals of the same days (reach counted at that level)
                load_level_insights(
                    engine,
                    client,
                    tenant_id,
                    account_id,
                    currency,
                    since,
                    until,
                    definition=definition,
                    attribution=attribution,
                )
            except TokenInvalidError as exc:
                raise token_rejected(engine, tenant_id, exc) from None
            except MetaApiError as exc:
                report.failed[account_id] = str(exc)
                progress(f"{account_id}: failed: {exc}")
                continue
            report.rows[account_id] = result.rows
            report.chunks_skipped[account_id] = result.skipped
    return report


class MetaBackfillConfig(Config):
    """What to backfill: a tenant, a date range (YYYY-MM-DD) and optionally some accounts."""

    tenant_id: str
    since: str
    until: str
    account_ids: list[str] = []


@op(description="Backfill a tenant's Meta insights for a date range through async report runs.")
def backfill_meta_insights(
    context: OpExecutionContext,
    config: MetaBackfillConfig,
    warehouse: WarehouseResource,
    meta: MetaGraphResource,
    keyring: KeyringResource,
) -> None:
    try:
        since, until = date.fromisoformat(config.since), date.fromisoformat(config.until)
    except ValueError as exc:
        raise Failure(f"since/until must be YYYY-MM-DD: {exc}") from None
    with log_context(tenant_id=config.tenant_id, run_id=context.run_id):
        try:
            report = backfill_tenant(
                warehouse.engine(),
                meta.sync_settings(),
                keyring.keyring(),
                config.tenant_id,
                since,
                until,
                account_ids=config.account_ids,
                progress=context.log.info,
            )
        except AdinsightsError as exc:
            raise Failure(str(exc)) from None
    metadata: dict[str, Any] = {
        "tenant_id": config.tenant_id,
        "backfill_since": since.isoformat(),
        "backfill_until": until.isoformat(),
        "rows_upserted": report.total_rows,
        "accounts_failed": MetadataValue.json(report.failed),
    }
    if report.rows:
        # The rows are meta_insights' rows: downstream freshness and dbt see the new data.
        context.log_event(
            AssetMaterialization("meta_insights", partition=config.tenant_id, metadata=metadata)
        )
    if report.failed:
        raise Failure(
            f"tenant {config.tenant_id}: {len(report.failed)} account(s) failed; "
            "re-run the same backfill to resume",
            metadata=metadata,
        )


@job(
    description=(
        "Backfill one tenant's Meta insights for a date range (async report runs, resumable: "
        "re-running the same config skips finished chunks)."
    ),
    tags={"provider": "meta"},
)
def meta_insights_backfill() -> None:
    backfill_meta_insights()


def audit_backfill(
    engine: Engine, report: TenantBackfill, actor: str = "cli", reason: str | None = None
) -> None:
    """Record a finished backfill in the audit log (``meta_backfill``)."""
    metadata: dict[str, Any] = {
        "since": report.since.isoformat(),
        "until": report.until.isoformat(),
        "rows": report.total_rows,
        "accounts_failed": sorted(report.failed),
    }
    if reason:
        metadata["reason"] = reason
    with engine.begin() as conn:
        AuditSubject(report.tenant_id, "meta_insights", None).record(
            conn, "meta_backfill", actor=actor, metadata=metadata
        )


def stored_history(engine: Engine, tenant_id: str, today: date) -> tuple[date, date] | None:
    """The span of the tenant's stored Meta insight days that Meta can still re-read (its
    37 months), up to ``today``; None when nothing is stored."""
    with engine.connect() as conn:
        first: date | None = conn.execute(
            sa.text(
                "select least((select min(date_start) from raw.meta_insights_ad "
                "              where tenant_id = :t), "
                "             (select min(date_start) from raw.meta_insights where tenant_id = :t))"
            ),
            {"t": tenant_id},
        ).scalar_one()
    if first is None:
        return None
    return max(first, earliest_allowed(today)), today
