"""Facebook Page insights and page post insights (``raw.meta_page*``, ``raw.meta_post*``).

Pages come from ``/me/accounts`` with a page access token each; page tokens are used for the
page's own calls and never stored.
"""

from collections.abc import Iterator
from datetime import date, datetime, timedelta
from typing import Any

from dagster import AssetExecutionContext, MaterializeResult

from adinsights_pipelines.defs.meta.assets import JAMAICA
from adinsights_pipelines.defs.meta.client import MetaGraphClient
from adinsights_pipelines.defs.meta.hierarchy import graph_time
from adinsights_pipelines.defs.meta.sync import MetaSync, meta_asset, selected_ids
from adinsights_pipelines.logs import register_secret
from adinsights_pipelines.warehouse.upsert import upsert_rows

PAGE_METRICS = (
    "page_impressions", "page_impressions_unique", "page_post_engagements", "page_fans",
)  # fmt: skip
POST_METRICS = (
    "post_impressions", "post_impressions_unique", "post_clicks", "post_reactions_by_type_total",
)  # fmt: skip
PAGE_WINDOW_DAYS = 28  # Meta serves at most 93 days of day-period page insights per call


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
    for page in _pages(sync):
        page_id = page["id"]
        page_client = _page_client(client, page)
        body = page_client.get(
            f"{client.base_url}/{client.api_version}/{page_id}/insights",
            {
                "metric": ",".join(PAGE_METRICS),
                "period": "day",
                "since": since.isoformat(),
                "until": _exclusive(until),
            },
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
    return MaterializeResult(
        metadata={"tenant_id": tenant_id, "pages": pages, "insight_points": points}
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
    for page in _pages(sync):
        page_client = _page_client(client, page)
        for post in page_client.iter_pages(
            f"{page['id']}/posts", {"fields": "id,message,created_time,permalink_url"}
        ):
            created = graph_time(post.get("created_time"))
            if created is not None and created < oldest:
                break  # posts come newest first
            body = page_client.get(
                f"{client.base_url}/{client.api_version}/{post['id']}/insights",
                {"metric": ",".join(POST_METRICS)},
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
    return MaterializeResult(
        metadata={"tenant_id": tenant_id, "posts": posts, "insight_metrics": metrics}
    )
