{#
  Meta reach as Meta counted it, one row per (tenant_id, account_id, level, object_id, date_day):
  level 'campaign' (object_id = campaign id) and 'account' (object_id = act_<id>), each day.
  Reach counts unique people and is not additive across ads, regions, campaigns or days: it is
  never summed here, and a coarser reach (a week, a tenant) must be read from Meta at that
  grain, not added up from these rows. frequency = impressions / reach of the same row.
#}
select
    {{ meta_insights_level_columns() }},
    date_day::date                                                    as date_day,
    reach::bigint                                                     as reach,
    impressions::bigint                                               as impressions,
    round(impressions::numeric / nullif(reach, 0), 4)::numeric(18, 4) as frequency,
    loaded_at::timestamptz                                            as loaded_at
from {{ ref('stg_meta__insights_level') }}
where reach is not null
