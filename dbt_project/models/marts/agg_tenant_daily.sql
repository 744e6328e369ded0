{#
  Tenant-level daily totals per platform, read by the metrics snapshot.
  Currency is part of the grain: amounts in different currencies are never summed together.
#}
select
    tenant_id,
    date_day,
    platform,
    sum(spend)::numeric(18, 4)          as spend,
    sum(impressions)::bigint            as impressions,
    sum(clicks)::bigint                 as clicks,
    sum(conversions)::numeric(18, 4)    as conversions,
    currency
from {{ ref('fct_ad_performance_daily') }}
group by tenant_id, date_day, platform, currency
