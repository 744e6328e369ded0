"""Facebook Page insights and page post insights (``raw.meta_page*``, ``raw.meta_post*``).

Pages come from ``/me/accounts`` with a page access token each; page tokens are used for the
page's own calls and never stored.
"""

import logging
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import replace
from datetime import date, datetime, timedelta
from typing import Any

from dagster import AssetExecutionContext, MaterializeResult

from adinsights_pipelines.defs.meta.assets import JAMAICA
from adinsights_pipelines.defs.meta.client import MetaApiError, MetaGraphClient
from adinsights_pipelines.defs.meta.hierarchy import graph_time
from adinsights_pipelines.defs.meta.sync import MetaSync, meta_asset, selected_ids
from adinsights_pipelines.logs import register_secret
from adinsights_pipelines.warehouse.upsert import upsert_rows

# The Page and post insights metrics the product asks for: the one list to edit when Meta
# changes them. Meta retired the impressions and fans metrics in two waves (2025-11-15 and
# 2026-06-15; developers.facebook.com/docs/platforminsights/page/deprecated-metrics): a retired
# metric fails the whole request with "(#100) The value must be a valid insights metric".
PAGE_METRICS = (
    "page_media_view", "page_total_media_view_unique", "page_post_engagements", "page_follows",
)  # fmt: skip
POST_METRICS = (
    "post_media_view", "post_total_media_view_unique", "post_clicks",
    "post_reactions_by_type_total",
)  # fmt: skip
#: Retired metrics and their documented successors (None: Meta documents none).
RETIRED_METRICS: dict[str, str | None] = {
    "page_impressions": "page_media_view",
    "page_impressions_unique": "page_total_media_view_unique",
    "page_impressions_paid": None,
    "page_impressions_viral": None,
    "page_fans": "page_follows",
    "post_impressions": "post_media_view",
    "post_impressions_unique": "post_total_media_view_unique",
    "post_impressions_paid": None,
    "post_impressions_organic": None,
}
PAGE_WINDOW_DAYS = 28  # Meta serves at most 93 days of day-period page insights per call
INVALID_METRIC = "must be a valid insights metric"

log = logging.getLogger(__name__)


def _invalid_metric(exc: MetaApiError) -> bool:
    return exc.code == 100 and INVALID_METRIC in exc.message


def _named(metrics: list[str], exc: MetaApiError) -> list[str]:
    return [m for m in metrics if re.search(rf"(?<![a-z_]){re.escape(m)}(?![a-z_])", exc.message)]


def insights_without_invalid_metrics(
    client: MetaGraphClient,
    url: str,
    params: Mapping[str, str],
    metrics: Sequence[str],
    dropped: list[str],
) -> dict[str, Any]:
    """``GET <url>?metric=...``; a metric Meta rejects as invalid is dropped, the rest asked again.

    Meta fails the whole request when one metric is not valid. The metric the error names is
    dropped; when it names none, each metric is asked alone to find the invalid ones. Metrics
    already in ``dropped`` (earlier pages or posts of the run) are not asked again; each newly
    dropped one is appended to ``dropped`` and recorded in ``app.api_error_log``.
    """
    wanted = [m for m in metrics if m not in dropped]
    while wanted:
        try:
            return client.get(url, {**params, "metric": ",".join(wanted)})
        except MetaApiError as exc:
            if not _invalid_metric(exc):
                raise
            invalid = _named(wanted, exc) or (
                wanted
                if len(wanted) == 1
                else [m for m in wanted if _rejected(client, url, params, m)]
            )
            if not invalid:
                raise  # Meta rejects the set but no single metric: nothing safe to drop
            for metric in invalid:
                _record_dropped(client, exc, metric)
            dropped.extend(invalid)
            wanted = [m for m in wanted if m not in invalid]
    return {"data": []}


def _rejected(client: MetaGraphClient, url: str, params: Mapping[str, str], metric: str) -> bool:
    try:
        client.get(url, {**params, "metric": metric})
    except MetaApiError as exc:
        if _invalid_metric(exc):
            return True
        raise
    return False


def _record_dropped(client: MetaGraphClient, exc: MetaApiError, metric: str) -> None:
    successor = RETIRED_METRICS.get(metric)
    message = f"{exc.message}: metric {metric} dropped, the other metrics were loaded" + (
        f" (Meta's successor: {successor})" if successor else ""
    )
    log.warning("Meta %s: %s", exc.endpoint, message)
    if client.on_error is not None:
        client.on_error(replace(exc.failure(), message=message, is_retryable=False))


def page_insight_rows(tenant_id: str, page_id: str, body: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for metric in body.get("data", []):
        for point in metric.get("values", []):
            value = point.get("value")
            rows.append(
                {
                    "tenant_id": tenant_id,
                    "page_id": page_id,
                    "metric": metric["name"],
                    "period": metric.get("period", "day"),
                    "end_time": graph_time(point["end_time"]),
                    "value": value if isinstance(value, int | float) else None,
                }
            )
    return rows


def post_insight_rows(tenant_id: str, post_id: str, body: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {
            "tenant_id": tenant_id,
            "post_id": post_id,
            "metric": metric["name"],
            "period": metric.get("period", "lifetime"),
            "value": (metric.get("values") or [{}])[0].get("value"),
        }
        for metric in body.get("data", [])
    ]


def _pages(sync: MetaSync) -> Iterator[dict[str, Any]]:
    """The Pages the token manages, only the chosen ones when the tenant chose (onboarding)."""
    chosen = selected_ids(sync.engine, sync.tenant_id, "page")
    for page in sync.client.iter_pages("me/accounts", {"fields": "id,name,category,access_token"}):
        register_secret(page.get("access_token"))
        if chosen is None or page["id"] in chosen:
            yield page


def _page_client(client: MetaGraphClient, page: dict[str, Any]) -> MetaGraphClient:
    return MetaGraphClient(
        page["access_token"],
        base_url=client.base_url,
        api_version=client.api_version,
        on_error=client.on_error,
    )


@meta_asset(
    description="The tenant's Facebook Pages and their daily page insights.",
)
def meta_page_insights(context: AssetExecutionContext, sync: MetaSync) -> MaterializeResult:
    tenant_id, engine, client = sync.tenant_id, sync.engine, sync.client
    until = datetime.now(JAMAICA).date()
    since = until - timedelta(days=PAGE_WINDOW_DAYS - 1)
    pages, points = 0, 0
    dropped: list[str] = []
    for page in _pages(sync):
        page_id = page["id"]
        page_client = _page_client(client, page)
        body = insights_without_invalid_metrics(
            page_client,
            f"{client.base_url}/{client.api_version}/{page_id}/insights",
            {"period": "day", "since": since.isoformat(), "until": _exclusive(until)},
            PAGE_METRICS,
            dropped,
        )
        rows = page_insight_rows(tenant_id, page_id, body)
        with engine.begin() as conn:
            upsert_rows(
                conn,
                "raw.meta_pages",
                [
                    {
                        "tenant_id": tenant_id,
                        "page_id": page_id,
                        "name": page.get("name"),
                        "category": page.get("category"),
                    }
                ],
                ("tenant_id", "page_id"),
            )
            points += upsert_rows(
                conn,
                "raw.meta_page_insights",
                rows,
                ("tenant_id", "page_id", "metric", "period", "end_time"),
            )
        pages += 1
    _warn_dropped(context, dropped)
    return MaterializeResult(
        metadata={
            "tenant_id": tenant_id,
            "pages": pages,
            "insight_points": points,
            "dropped_metrics": dropped,
        }
    )


def _warn_dropped(context: AssetExecutionContext, dropped: list[str]) -> None:
    """The operator-visible warning (Dagster's event log) for metrics Meta rejected."""
    if dropped:
        context.log.warning(
            f"Meta rejected {', '.join(dropped)} as not a valid insights metric; loaded the "
            "other metrics without them. Replace them in defs/meta/pages.py (PAGE_METRICS, "
            "POST_METRICS) with Meta's successor (RETIRED_METRICS)."
        )


def _exclusive(day: date) -> str:
    """Meta's ``until`` for page insights is exclusive."""
    return (day + timedelta(days=1)).isoformat()


@meta_asset(
    deps=[meta_page_insights],
    description="Posts of the tenant's Pages from the last 28 days and their lifetime insights.",
)
def meta_post_insights(context: AssetExecutionContext, sync: MetaSync) -> MaterializeResult:
    tenant_id, engine, client = sync.tenant_id, sync.engine, sync.client
    oldest = datetime.now(JAMAICA) - timedelta(days=PAGE_WINDOW_DAYS)
    posts, metrics = 0, 0
    dropped: list[str] = []
    for page in _pages(sync):
        page_client = _page_client(client, page)
        for post in page_client.iter_pages(
            f"{page['id']}/posts", {"fields": "id,message,created_time,permalink_url"}
        ):
            created = graph_time(post.get("created_time"))
            if created is not None and created < oldest:
                break  # posts come newest first
            body = insights_without_invalid_metrics(
                page_client,
                f"{client.base_url}/{client.api_version}/{post['id']}/insights",
                {},
                POST_METRICS,
                dropped,
            )
            with engine.begin() as conn:
                upsert_rows(
                    conn,
                    "raw.meta_posts",
                    [
                        {
                            "tenant_id": tenant_id,
                            "post_id": post["id"],
                            "page_id": page["id"],
                            "message": post.get("message"),
                            "permalink_url": post.get("permalink_url"),
                            "created_time": created,
                        }
                    ],
                    ("tenant_id", "post_id"),
                )
                metrics += upsert_rows(
                    conn,
                    "raw.meta_post_insights",
                    post_insight_rows(tenant_id, post["id"], body),
                    ("tenant_id", "post_id", "metric", "period"),
                    json_columns=("value",),
                )
            posts += 1
    _warn_dropped(context, dropped)
    return MaterializeResult(
        metadata={
            "tenant_id": tenant_id,
            "posts": posts,
            "insight_metrics": metrics,
            "dropped_metrics": dropped,
        }
    )
