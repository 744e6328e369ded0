"""The one place this product uses dagster-dbt's private functions (dagster-dbt is pinned <0.30).

dagster-dbt's public metadata chain, ``invocation.stream().fetch_row_counts()
.fetch_column_metadata()``, runs these two functions in a thread pool whose wait polls futures
without sleeping: two threads spin for the whole dbt run (~3 s of CPU for a 3 s tick on a 2-core
machine). :func:`adinsights_pipelines.defs.dbt.runner.stream_with_table_metadata` calls the
same two functions while waiting on dbt's output instead. dagster-dbt offers no public way to
fetch one event's metadata, so they are reached here and nowhere else;
``tests/dbt/test_dbt_runner.py`` fails loudly when an upgrade renames them or changes their
parameters. An upstream change making the wait sleep would let this module go.
"""

from __future__ import annotations

from typing import Any

from dagster_dbt import DbtCliInvocation
from dagster_dbt.core.dbt_event_iterator import (
    DbtDagsterEventType,
    _fetch_column_metadata,
    _fetch_row_count_metadata,
)

__all__ = ["DbtDagsterEventType", "column_metadata", "row_count_metadata"]


def row_count_metadata(invocation: DbtCliInvocation, event: DbtDagsterEventType) -> dict[str, Any]:
    """``dagster/row_count`` of the table an event materialized (views: nothing)."""
    return _fetch_row_count_metadata(invocation, event) or {}


def column_metadata(invocation: DbtCliInvocation, event: DbtDagsterEventType) -> dict[str, Any]:
    """The relation's column schema, without column lineage (sqlglot re-parses every model)."""
    return _fetch_column_metadata(invocation, event, with_column_lineage=False) or {}
