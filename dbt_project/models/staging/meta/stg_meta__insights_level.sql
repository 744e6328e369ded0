{#
  Meta's daily totals read at a coarser level than the ad (raw.meta_insights_level): one row per
  (tenant_id, level, object_id, date_day) for level 'campaign' (object_id = campaign id) and
  'account' (object_id = act_<id>). reach is Meta's count of unique people at that grain, never
  a sum of finer reaches. conversions are null where Meta listed no actions (a level spanning
  ad sets with different attribution settings).
#}
select
    {{ meta_insights_level_columns() }},
    date_start::date                    as date_day,
    {{ meta_insights_measures() }},
    conversion_events::text             as conversion_events,
    attribution_setting::text           as attribution_setting,
    upper(trim(currency))::text         as currency,
    _loaded_at::timestamptz             as loaded_at
from {{ source('meta', 'insights_level') }}
