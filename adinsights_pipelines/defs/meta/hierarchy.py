"""Meta campaigns, ad sets and ads (``raw.meta_campaigns|adsets|ads``), daily at 02:15.

Every status is listed, ARCHIVED and DELETED included (the client asks the edges for every
documented ``effective_status``): an object archived or deleted after it spent keeps its name,
its parents and its status in the warehouse, so its insight rows keep their dimensions.
"""

from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from dagster import AssetExecutionContext, MaterializeResult, MetadataValue

from adinsights_pipelines.defs.meta.assets import meta_ad_accounts
from adinsights_pipelines.defs.meta.client import MetaApiError, TokenInvalidError
from adinsights_pipelines.defs.meta.sync import (
    MetaSync,
    fail_if_every_account_failed,
    meta_asset,
    set_sync_state,
)
from adinsights_pipelines.warehouse.upsert import upsert_rows

BATCH = 1000
#: The statuses Graph's edges leave out unless a request asks for them.
HIDDEN = frozenset({"ARCHIVED", "DELETED"})


def graph_time(value: str | None) -> datetime | None:
    """Graph datetimes look like ``2024-03-12T15:02:47-0700``."""
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%S%z") if value else None


def _budget(value: Any) -> int | None:
    return None if value in (None, "") else int(value)


def _common(tenant_id: str, account_id: str, obj: dict[str, Any]) -> dict[str, Any]:
    return {
        "tenant_id": tenant_id,
        "account_id": account_id,
        "name": obj.get("name"),
        "status": obj.get("status"),
        "effective_status": obj.get("effective_status"),
        "created_time": graph_time(obj.get("created_time")),
        "updated_time": graph_time(obj.get("updated_time")),
    }


def campaign_row(tenant_id: str, account_id: str, obj: dict[str, Any]) -> dict[str, Any]:
    return {
        "campaign_id": obj["id"],
        **_common(tenant_id, account_id, obj),
        "objective": obj.get("objective"),
        "daily_budget": _budget(obj.get("daily_budget")),
    }


def adset_row(tenant_id: str, account_id: str, obj: dict[str, Any]) -> dict[str, Any]:
    return {
        "adset_id": obj["id"],
        "campaign_id": obj["campaign_id"],
        **_common(tenant_id, account_id, obj),
        "daily_budget": _budget(obj.get("daily_budget")),
    }


def ad_row(tenant_id: str, account_id: str, obj: dict[str, Any]) -> dict[str, Any]:
    return {
        "ad_id": obj["id"],
        "adset_id": obj["adset_id"],
        "campaign_id": obj["campaign_id"],
        **_common(tenant_id, account_id, obj),
    }


def _chunks(rows: Iterable[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    batch: list[dict[str, Any]] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


@meta_asset(
    deps=[meta_ad_accounts],
    description="Campaigns, ad sets and ads of the tenant's Meta accounts (raw.meta_*).",
)
def meta_hierarchy(context: AssetExecutionContext, sync: MetaSync) -> MaterializeResult:
    tenant_id, engine, client = sync.tenant_id, sync.engine, sync.client
    with engine.connect() as conn:
        accounts: list[str] = list(
            conn.execute(
                sa.text(
                    "select account_id from raw.meta_ad_accounts where tenant_id = :t "
                    "order by account_id"
                ),
                {"t": tenant_id},
            ).scalars()
        )
    counts = {"campaigns": 0, "adsets": 0, "ads": 0}
    #: ARCHIVED and DELETED objects listed, per stream (the edges hide them unless asked).
    hidden = {"campaigns": 0, "adsets": 0, "ads": 0}
    failed: dict[str, str] = {}
    for account_id in accounts:
        streams = (
            ("campaigns", "raw.meta_campaigns", ("tenant_id", "campaign_id"),
             client.iter_campaigns, campaign_row),
            ("adsets", "raw.meta_adsets", ("tenant_id", "adset_id"),
             client.iter_adsets, adset_row),
            ("ads", "raw.meta_ads", ("tenant_id", "ad_id"), client.iter_ads, ad_row),
        )  # fmt: skip
        try:
            for name, table, key, fetch, shape in streams:
                rows = (shape(tenant_id, account_id, obj) for obj in fetch(account_id))
                for batch in _chunks(rows):
                    hidden[name] += sum(r["effective_status"] in HIDDEN for r in batch)
                    with engine.begin() as conn:
                        counts[name] += upsert_rows(conn, table, batch, key)
        except TokenInvalidError:
            raise  # a token problem is the tenant's, not this account's: meta_asset flags it
        except MetaApiError as exc:
            set_sync_state(engine, tenant_id, account_id, "failed", error=str(exc))
            failed[account_id] = str(exc)
            context.log.warning(
                "tenant %s account %s hierarchy failed: %s", tenant_id, account_id, exc
            )
    fail_if_every_account_failed(
        tenant_id, accounts, failed, "every Meta account's hierarchy failed"
    )
    return MaterializeResult(
        metadata={
            "tenant_id": tenant_id,
            **counts,
            "archived_or_deleted": MetadataValue.json(hidden),
            "accounts_failed": MetadataValue.json(failed),
        }
    )
