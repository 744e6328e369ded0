"""Re-count a tenant's stored Meta conversions under a new conversion definition.

Every ``raw.meta_insights_ad`` row (an ad's day, read without a breakdown) keeps Meta's
``actions`` and ``action_values``, so a change of
definition needs no call to Meta: the rows are counted again in batches (keyset over the
primary key) and those whose figures change get a new ``_loaded_at``, so the next dbt run
re-builds the days they belong to.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from adinsights_pipelines.defs.meta.conversions import (
    UNIFIED,
    Attribution,
    ConversionDefinition,
    count,
)

BATCH = 5000


@dataclass(frozen=True)
class Recount:
    rows: int
    changed: int
    #: Rows loaded before action_values were read: their conversion value is 0 until re-read.
    without_values: int


def recount_conversions(
    engine: Engine,
    tenant_id: str,
    definition: ConversionDefinition,
    attribution: Attribution = UNIFIED,
    *,
    progress: Callable[[str], None] = lambda _: None,
    batch: int = BATCH,
) -> Recount:
    """Count every stored insight row of ``tenant_id`` again under ``definition``, reading
    each action under ``attribution`` (the tenant's: the setting its rows were read under)."""
    after: tuple[Any, ...] = ("", "1970-01-01")
    rows = changed = without_values = 0
    while True:
        with engine.begin() as conn:
            found = conn.execute(
                sa.text(
                    """
                    select ad_id, date_start, actions, action_values, conversions,
                           conversion_value, conversions_by_event, conversion_events
                      from raw.meta_insights_ad
                     where tenant_id = :t and (ad_id, date_start) > (:a, :d)
                     order by ad_id, date_start
                     limit :n
                    """
                ),
                {"t": tenant_id, "a": after[0], "d": after[1], "n": batch},
            ).all()
            if not found:
                break
            updates = []
            for row in found:
                result = count(definition, row.actions, row.action_values, attribution)
                by_event = result.by_event_json()
                if not row.action_values and row.actions:
                    without_values += 1
                if (
                    row.conversions != result.total
                    or row.conversion_value != result.value
                    or row.conversions_by_event != by_event
                    or row.conversion_events != definition.text
                ):
                    updates.append(
                        {
                            "t": tenant_id,
                            "a": row.ad_id,
                            "d": row.date_start,
                            "c": result.total,
                            "v": result.value,
                            "e": orjson.dumps(by_event).decode(),
                            "def": definition.text,
                        }
                    )
            if updates:
                conn.execute(
                    sa.text(
                        """
                        update raw.meta_insights_ad
                           set conversions = :c, conversion_value = :v,
                               conversions_by_event = cast(:e as jsonb),
                               conversion_events = :def, _loaded_at = now()
                         where tenant_id = :t and ad_id = :a and date_start = :d
                        """
                    ),
                    updates,
                )
        rows += len(found)
        changed += len(updates)
        last = found[-1]
        after = (last.ad_id, last.date_start)
        progress(f"{rows} insight rows counted again, {changed} changed")
    return Recount(rows, changed, without_values)
