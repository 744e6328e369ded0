{#
  Meta daily ad-level insights read WITHOUT a breakdown (raw.meta_insights_ad): one row per
  (tenant_id, ad_id, date_day), the raw primary key. The source of truth for spend,
  impressions, clicks, conversions and conversion value: Meta returns off-Meta actions (pixel
  and website purchases, leads) only on reads without a "Type 1" breakdown such as region.

  conversions and conversion_value are counted once per event of the tenant's conversion
  definition (conversion_events, as it was when the row was loaded), through one action type of
  each event's alias family (defs/meta/conversions.py); conversions_by_event has the per-event
  count, value and the action type read. attribution_setting is Meta's label of the
  attribution the row was read under. reach is Meta's count for the ad and day (not additive).
#}
select
    {{ meta_insights_ad_columns() }},
    date_start::date                    as date_day,
    {{ meta_insights_measures() }},
    conversions_by_event::jsonb         as conversions_by_event,
    conversion_events::text             as conversion_events,
    attribution_setting::text           as attribution_setting,
    upper(trim(currency))::text         as currency,
    _loaded_at::timestamptz             as loaded_at
from {{ source('meta', 'insights_ad') }}
