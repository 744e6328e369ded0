{#
  Search Console daily totals per (tenant_id, site_url, date_day, country, device), summed over
  queries and pages. ctr is re-computed from the sums; position is the impressions-weighted
  average position. is_final is false while any row of the day is still 'all' (fresh, may
  change). Totals over queries exclude the queries Google anonymises.
  Incremental by (tenant, site, day) slice, like fct_ad_performance_daily.
#}
{{
    config(
        materialized='incremental',
        incremental_strategy='upsert_changed',
        unique_key=['tenant_id', 'site_url', 'date_day', 'country', 'device'],
        slice_columns=['tenant_id', 'site_url', 'date_day'],
        on_schema_change='fail',
        indexes=[
            {'columns': ['tenant_id', 'site_url', 'date_day', 'country', 'device'],
             'unique': True},
            {'columns': ['loaded_at']},
        ],
    )
}}

select
    tenant_id::text                                         as tenant_id,
    site_url::text                                          as site_url,
    date_day::date                                          as date_day,
    country::text                                           as country,
    device::text                                            as device,
    sum(clicks)::bigint                                     as clicks,
    sum(impressions)::bigint                                as impressions,
    -- numeric sums: exact, so a re-computed slice equals the stored one (a float sum depends
    -- on row order, and every re-read would rewrite the row)
    round(sum(clicks)::numeric / nullif(sum(impressions), 0), 6)::double precision
                                                            as ctr,
    round(sum(position::numeric * impressions) / nullif(sum(impressions), 0), 4)::double precision
                                                            as position,
    bool_and(data_state = 'final')::boolean                 as is_final,
    max(loaded_at)::timestamptz                             as loaded_at
from {{ ref('stg_search_console__daily') }}
{% if is_incremental() %}
where {{ changed_days(
    ref('stg_search_console__daily'), ['tenant_id', 'site_url'], since=incremental_watermark()) }}
{% endif %}
group by tenant_id, site_url, date_day, country, device
