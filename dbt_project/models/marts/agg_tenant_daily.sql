{#
  Tenant-level daily totals per platform, summed from fct_ad_performance_daily across accounts,
  campaigns and parishes. Grain (tenant_id, date_day, platform, currency): amounts in different
  currencies are never summed together; spend_reporting is the same spend in the tenant's
  reporting currency (the fact's, summed; null when any row with spend lacks a rate).
  Incremental on the fact's loaded_at, by (tenant, day).
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
    sum(conversion_value)::numeric(18, 4) as conversion_value,
    currency::text                      as currency,
    (case when bool_and(spend_reporting is not null or spend = 0)
          then coalesce(sum(spend_reporting), 0) end)::numeric(24, 6) as spend_reporting,
    (case when bool_and(conversion_value_reporting is not null or conversion_value = 0)
          then coalesce(sum(conversion_value_reporting), 0) end)::numeric(24, 6)
                                        as conversion_value_reporting,
    max(reporting_currency)::text       as reporting_currency,
    max(fx_rate)::numeric(24, 10)       as fx_rate,
    max(fx_rate_date)::date             as fx_rate_date,
    count(distinct campaign_id)::integer as campaigns,
    max(loaded_at)::timestamptz         as loaded_at
from {{ ref('fct_ad_performance_daily') }}
{% if is_incremental() %}
where {{ changed_days(ref('fct_ad_performance_daily'), ['tenant_id'], since=incremental_watermark()) }}
{% endif %}
group by tenant_id, date_day, platform, currency
