{#
  raw.meta_insights is keyed by the natural key (tenant_id, ad_id, date_start, region): the
  sync upserts, so a re-delivered row replaces the older one and no dedupe is needed here.
  A plain view keeps predicates on loaded_at / tenant / day pushed down into the raw table.

  The region read: region is a "Type 1" breakdown, for which Meta returns no off-Meta actions,
  so it is asked for spend, impressions, clicks and reach only and splits the ad-level truth
  (stg_meta__insights_ad) by parish. conversions and conversion_value are null on its rows;
  rows loaded before the two reads keep the (on-Meta only) counts they were loaded with, used
  only where no ad-level row of the account-day exists.
#}
select
    {{ meta_insights_ad_columns() }},
    date_start::date                as date_day,
    region::text                    as region,
    {{ meta_insights_measures() }},
    upper(trim(currency))::text     as currency,
    _loaded_at::timestamptz         as loaded_at
from {{ source('meta', 'insights') }}
