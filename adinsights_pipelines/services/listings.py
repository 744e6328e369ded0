"""Paged listings of a tenant's rows: what ``/api/meta/*`` and ``/api/analytics/web/*`` serve.

They read the raw tables, what the last sync landed, so a listing answers right after a sync,
before dbt has run (the staging models are views over the same rows, renamed and cast; the
listings keep the source's own names, which the Meta and Google documentation use). Pages are
keyset pages in each listing's natural order. The SQL is built with SQLAlchemy Core over tables
described by the column lists the loaders declare, so a renamed column fails at import, not in a
request.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Connection

from adinsights_pipelines.defs.google.rows import (
    GA4_COLUMNS,
    GA4_TABLE,
    SEARCH_CONSOLE_COLUMNS,
    SEARCH_CONSOLE_TABLE,
)
from adinsights_pipelines.defs.meta.rows import INSIGHT_COLUMNS, REGION_COLUMNS


def raw_table(qualified_name: str, columns: Iterable[str]) -> sa.TableClause:
    """A lightweight table (no reflection, no metadata) for ``schema.name`` and its columns."""
    schema, _, name = qualified_name.rpartition(".")
    return sa.table(name, *(sa.column(c) for c in columns), schema=schema or None)


@dataclass(frozen=True)
class Listing:
    """One listing: the table, the fields of each row in order, the natural order (the keyset)
    and the day column a window filters on."""

    table: sa.TableClause
    fields: tuple[sa.ColumnElement[Any], ...]
    order: tuple[str, ...]
    day: str | None = None
    date_keys: frozenset[str] = field(default_factory=frozenset)


def listing(
    table: sa.TableClause,
    fields: Sequence[str],
    order: Sequence[str],
    *,
    day: str | None = None,
    absent: Mapping[str, sa.ColumnElement[Any]] | None = None,
) -> Listing:
    """``fields`` from the table's columns; one the table does not have is answered by
    ``absent`` (so two tables can serve one shape). A name in neither is a ``KeyError``."""
    absent = absent or {}
    columns = tuple(absent[f].label(f) if f in absent else table.c[f] for f in fields)
    if not_columns := [key for key in order if key not in table.c]:
        raise KeyError(f"the keyset of {table.name} names no column: {not_columns}")
    return Listing(
        table,
        columns,
        tuple(order),
        day=day,
        date_keys=frozenset({day}) & frozenset(order) if day else frozenset(),
    )


@dataclass(frozen=True)
class Page:
    rows: list[dict[str, Any]]
    #: The keyset values of the page's last row when more rows follow, else ``None``.
    last_key: tuple[Any, ...] | None


def page(
    conn: Connection,
    what: Listing,
    tenant_id: str,
    *,
    limit: int,
    after: Sequence[Any] | None = None,
    equal: Mapping[str, Any] | None = None,
    one_of: Mapping[str, Sequence[str]] | None = None,
    days: tuple[date, date] | None = None,
) -> Page:
    """One page of the tenant's rows: ``equal`` column values, ``one_of`` value lists (an empty
    list does not filter), ``days`` (first, last) on the listing's day column, after the keyset
    position ``after`` (values of :attr:`Listing.order`, compared as PostgreSQL compares the
    columns), at most ``limit`` rows."""
    columns = what.table.c
    where = [columns.tenant_id == tenant_id]
    where += [columns[name] == value for name, value in (equal or {}).items()]
    where += [columns[name].in_(values) for name, values in (one_of or {}).items() if values]
    if days is not None:
        assert what.day is not None, "a day window on a listing without a day column"
        where.append(columns[what.day].between(*days))
    keyset = [columns[name] for name in what.order]
    if after is not None:
        where.append(sa.tuple_(*keyset) > sa.tuple_(*(sa.literal(v) for v in after)))
    query = sa.select(*what.fields).where(*where).order_by(*keyset).limit(limit + 1)
    rows = [dict(row) for row in conn.execute(query).mappings()]
    found = rows[:limit]
    more = len(rows) > limit
    return Page(found, tuple(found[-1][k] for k in what.order) if more else None)


# --- the listings -------------------------------------------------------------------------

#: What every level of Meta's hierarchy shares besides its ids.
HIERARCHY_FIELDS = ("name", "status", "effective_status", "created_time", "updated_time")
#: One insight row, with or without the region breakdown: the ad x day table has no region,
#: the region table no actions (Meta returns no off-Meta actions with ``region``).
INSIGHT_FIELDS = (
    "account_id", "campaign_id", "adset_id", "ad_id", "date_start", "date_stop", "region",
    "spend", "impressions", "clicks", "reach", "conversions", "conversion_value", "actions",
    "currency",
)  # fmt: skip

META_ACCOUNTS = listing(
    raw_table(
        "raw.meta_ad_accounts",
        ("tenant_id", "account_id", "name", "currency", "timezone_name", "account_status"),
    ),
    ("account_id", "name", "currency", "timezone_name", "account_status"),
    ("account_id",),
)
_CAMPAIGN = ("campaign_id", "account_id", *HIERARCHY_FIELDS, "objective", "daily_budget")
META_CAMPAIGNS = listing(
    raw_table("raw.meta_campaigns", ("tenant_id", *_CAMPAIGN)), _CAMPAIGN, ("campaign_id",)
)
_ADSET = ("adset_id", "campaign_id", "account_id", *HIERARCHY_FIELDS, "daily_budget")
META_ADSETS = listing(raw_table("raw.meta_adsets", ("tenant_id", *_ADSET)), _ADSET, ("adset_id",))
_AD = ("ad_id", "adset_id", "campaign_id", "account_id", *HIERARCHY_FIELDS)
META_ADS = listing(raw_table("raw.meta_ads", ("tenant_id", *_AD)), _AD, ("ad_id",))

# The tables defs/meta/loading.py writes (AD_READ, REGION_READ); named here so that the API
# does not import the loader.
META_INSIGHTS = listing(
    raw_table("raw.meta_insights_ad", INSIGHT_COLUMNS),
    INSIGHT_FIELDS,
    ("date_start", "ad_id"),
    day="date_start",
    absent={"region": sa.cast(sa.null(), sa.Text)},
)
META_REGION_INSIGHTS = listing(
    raw_table("raw.meta_insights", REGION_COLUMNS),
    INSIGHT_FIELDS,
    ("date_start", "ad_id", "region"),
    day="date_start",
    absent={"actions": sa.cast(sa.literal("[]"), JSONB)},
)

GA4_DAILY = listing(
    raw_table(GA4_TABLE, GA4_COLUMNS),
    [c for c in GA4_COLUMNS if c != "tenant_id"],
    ("date", "property_id", "region", "session_default_channel_group"),
    day="date",
)
SEARCH_CONSOLE_DAILY = listing(
    raw_table(SEARCH_CONSOLE_TABLE, SEARCH_CONSOLE_COLUMNS),
    [c for c in SEARCH_CONSOLE_COLUMNS if c != "tenant_id"],
    ("date", "site_url", "query", "page", "country", "device"),
    day="date",
)
