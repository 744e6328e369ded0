{#
  Daily ad performance across platforms, one row per
  (tenant_id, platform, account_id, campaign_id, date_day, parish).

  Regions map to Jamaica's parishes: Meta region names through stg_parish_aliases, Google geo
  target criterion ids through stg_google_geo_targets. Unmatched regions become parish
  'Unknown' (null parish_iso_code) and are never dropped, so parish totals add up to platform
  totals. Currency is the ad account's and `spend` is kept as reported; `spend_reporting` is
  `spend` converted to the tenant's reporting currency at that day's rate (the row's date_day,
  the ad account's day): fx_rate = rate(reporting) / rate(currency), both units per 1 USD from
  stg_fx__rates_daily, rounded to 10 places; spend_reporting = round(spend * fx_rate, 6). Same
  currency: fx_rate 1, no rate needed. No rate for the day: fx_rate and spend_reporting null
  (the blocking contract spend_has_exchange_rate and the snapshot name the day), never zero.
  conversion_value (Meta action_values / Google Ads conversions_value under each platform's
  conversion definition, in the account currency) converts the same way into
  conversion_value_reporting.

  Conversions: Meta's counted once per event of the tenant's definition (stg_meta__insights);
  Google Ads' as Google reports them (already deduplicated). No reach here: reach counts
  people and is not additive across ads, regions or days; Meta's reach per campaign and
  account, as Meta counted it, is in fct_meta_reach_daily.

  Incremental (macros/incremental.sql): a run re-computes only the days of the ad accounts that
  received rows since the last run (the slices), plus the days whose exchange rate changed and
  the history of tenants whose reporting currency changed (reconvert_slices), and writes only
  rows that changed.

  Adding a platform: a CTE with the columns of `meta` below, `union all` it into `unioned`, a
  slice filter on its own watermark, and the platform in the accepted_values test.
#}
-- depends_on: {{ ref('stg_app__airbyte_connections') }}
{{
    config(
        materialized='incremental',
        incremental_strategy='upsert_changed',
        unique_key=['tenant_id', 'platform', 'account_id', 'campaign_id', 'date_day', 'parish'],
        slice_columns=['tenant_id', 'platform', 'account_id', 'date_day'],
        on_schema_change='fail',
        indexes=[
            {'columns': ['tenant_id', 'platform', 'account_id', 'date_day', 'campaign_id', 'parish'],
             'unique': True},
            {'columns': ['platform', 'loaded_at']},
            {'columns': ['loaded_at']},
            {'columns': ['tenant_id', 'date_day']},
        ],
    )
}}

with meta as (

    select
        'meta'::text                        as platform,
        insights.tenant_id,
        insights.account_id,
        insights.campaign_id,
        insights.campaign_name,
        insights.date_day,
        parish_aliases.iso_code             as parish_iso_code,
        insights.spend,
        insights.impressions,
        insights.clicks,
        insights.conversions,
        insights.conversion_value,
        insights.currency,
        insights.loaded_at
    from {{ ref('stg_meta__insights') }} as insights
    left join {{ ref('stg_parish_aliases') }} as parish_aliases
        on lower(trim(insights.region)) = parish_aliases.alias_key
    {% if is_incremental() %}
    where {{ changed_days(
        ref('stg_meta__insights'), ['tenant_id', 'account_id'],
        since=incremental_watermark(where="platform = 'meta'"), alias='insights') }}
       or {{ reconvert_slices(
        since=incremental_watermark(), key_column='tenant_id',
        keys_sql='select tenant_id from ' ~ ref('stg_app__tenants'), alias='insights') }}
    {% endif %}

),

google_ads as (

    select
        'google_ads'::text                  as platform,
        performance.tenant_id,
        performance.customer_id             as account_id,
        performance.campaign_id,
        performance.campaign_name,
        performance.date_day,
        geo_targets.iso_code                as parish_iso_code,
        performance.cost                    as spend,
        performance.impressions,
        performance.clicks,
        performance.conversions,
        performance.conversions_value           as conversion_value,
        performance.currency,
        performance.loaded_at
    from {{ ref('stg_google_ads__campaign_performance') }} as performance
    left join {{ ref('stg_google_geo_targets') }} as geo_targets
        on performance.geo_target_criterion_id = geo_targets.criterion_id
    {% if is_incremental() %}
    where {{ changed_days(
        ref('stg_google_ads__campaign_performance'), ['customer_id'],
        since=incremental_watermark(where="platform = 'google_ads'"), alias='performance') }}
       or {{ reconvert_slices(
        since=incremental_watermark(), key_column='customer_id',
        keys_sql="select source_account_id from " ~ ref('stg_app__airbyte_connections')
                 ~ " where provider = 'google_ads'", alias='performance') }}
    {% endif %}

),

unioned as (

    select * from meta
    union all
    select * from google_ads

),

parishes as (

    select trim(iso_code) as iso_code, trim(parish) as parish
    from {{ ref('jamaica_parishes') }}

),

aggregated as (

    select
        unioned.tenant_id,
        unioned.platform,
        unioned.account_id,
        unioned.campaign_id,
        -- a campaign's name as reported for that day (max: a rename within one day is rare).
        -- Plain max/sum keep the grouping hashable; an ordered array_agg would force a sort of
        -- every input row, the costliest step of an incremental run. dim_campaigns has the
        -- newest.
        max(unioned.campaign_name)                              as campaign_name,
        unioned.date_day,
        coalesce(parishes.parish, 'Unknown')                    as parish,
        parishes.iso_code                                       as parish_iso_code,
        sum(unioned.spend)::numeric(18, 4)                      as spend,
        sum(unioned.impressions)                                as impressions,
        sum(unioned.clicks)                                     as clicks,
        sum(unioned.conversions)                                as conversions,
        sum(unioned.conversion_value)                           as conversion_value,
        -- one currency per ad account (currency_consistent_per_account checks it)
        max(unioned.currency)                                   as currency,
        max(unioned.loaded_at)                                  as loaded_at
    from unioned
    left join parishes
        on parishes.iso_code = unioned.parish_iso_code
    group by
        unioned.tenant_id,
        unioned.platform,
        unioned.account_id,
        unioned.campaign_id,
        unioned.date_day,
        parishes.parish,
        parishes.iso_code

),

rates as (

    select rate_date, quote, rate, coalesce(carried_from, rate_date) as published_on, loaded_at
    from {{ ref('stg_fx__rates_daily') }}
    where base = 'USD'

),

converted as (

    select
        aggregated.*,
        tenants.reporting_currency,
        tenants.reporting_currency_set_at,
        -- units per 1 USD of each side (USD itself: 1, no rate row)
        case when aggregated.currency = 'USD' then 1 else from_rate.rate end        as from_usd,
        case when tenants.reporting_currency = 'USD' then 1 else to_rate.rate end   as to_usd,
        case when aggregated.currency = 'USD' then null else from_rate.published_on end
                                                                                    as from_day,
        case when tenants.reporting_currency = 'USD' then null else to_rate.published_on end
                                                                                    as to_day,
        greatest(from_rate.loaded_at, to_rate.loaded_at)                            as rate_loaded_at
    from aggregated
    left join {{ ref('stg_app__tenants') }} as tenants
        on tenants.tenant_id = aggregated.tenant_id
    left join rates as from_rate
        on from_rate.rate_date = aggregated.date_day
       and from_rate.quote = aggregated.currency
    left join rates as to_rate
        on to_rate.rate_date = aggregated.date_day
       and to_rate.quote = tenants.reporting_currency

),

with_rate as (

    select
        converted.*,
        case
            when converted.reporting_currency is null then null
            when converted.currency = converted.reporting_currency then 1::numeric
            else round(converted.to_usd / converted.from_usd, 10)
        end                                                     as fx_rate
    from converted

)

select
    tenant_id::text                                             as tenant_id,
    platform::text                                              as platform,
    account_id::text                                            as account_id,
    campaign_id::text                                           as campaign_id,
    campaign_name::text                                         as campaign_name,
    date_day::date                                              as date_day,
    parish::text                                                as parish,
    parish_iso_code::text                                       as parish_iso_code,
    spend::numeric(18, 4)                                       as spend,
    impressions::bigint                                         as impressions,
    clicks::bigint                                              as clicks,
    conversions::numeric(18, 4)                                 as conversions,
    conversion_value::numeric(18, 4)                            as conversion_value,
    currency::text                                              as currency,
    round(spend * fx_rate, 6)::numeric(24, 6)                   as spend_reporting,
    round(conversion_value * fx_rate, 6)::numeric(24, 6)        as conversion_value_reporting,
    reporting_currency::text                                    as reporting_currency,
    fx_rate::numeric(24, 10)                                    as fx_rate,
    -- the day the rate was published: the row's day, or the day it was carried from (the older
    -- leg for a conversion between two non-USD currencies); null when no rate was needed
    (case when fx_rate is not null and currency <> reporting_currency
          then least(from_day, to_day) end)::date               as fx_rate_date,
    -- a changed rate or reporting currency re-writes the row, and agg_tenant_daily follows
    greatest(loaded_at, case when currency <> reporting_currency then rate_loaded_at end,
             reporting_currency_set_at)::timestamptz            as loaded_at
from with_rate
