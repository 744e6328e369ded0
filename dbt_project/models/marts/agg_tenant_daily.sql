{#
  Tenant-level daily totals per platform, summed from fct_ad_performance_daily across accounts,
  campaigns and parishes. Grain (tenant_id, date_day, platform, currency): amounts in different
  currencies are never summed together. Incremental on the fact's loaded_at, by (tenant, day).
#}
{{
    config(
        materialized='incremental',
        incremental_strategy='upsert_changed',
        unique_key=['tenant_id', 'date_day', 'platform', 'currency'],
        slice_columns=['tenant_id', 'date_day'],
        on_schema_change='fail',
        indexes=[
            {'columns': ['tenant_id', 'date_day', 'platform', 'currency'], 'unique': True},
            {'columns': ['loaded_at']},
        ],
    )
}}

select
    tenant_id::text                     as tenant_id,
    date_day::date                      as date_day,
    platform::text                      as platform,
    sum(spend)::numeric(18, 4)          as spend,
    sum(impressions)::bigint            as impressions,
    sum(clicks)::bigint                 as clicks,
    sum(conversions)::numeric(18, 4)    as conversions,
    currency::text                      as currency,
    count(distinct campaign_id)::integer as campaigns,
    max(loaded_at)::timestamptz         as loaded_at
from {{ ref('fct_ad_performance_daily') }}
{% if is_incremental() %}
where {{ changed_days(ref('fct_ad_performance_daily'), ['tenant_id'], since=incremental_watermark()) }}
{% endif %}
group by tenant_id, date_day, platform, currency
