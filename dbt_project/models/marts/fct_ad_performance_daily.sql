{#
  Daily ad performance across platforms, one row per
  (tenant_id, platform, account_id, campaign_id, date_day, parish).

  Regions map to Jamaica's parishes: Meta region names through stg_parish_aliases, Google geo
  target criterion ids through stg_google_geo_targets. Unmatched regions become parish
  'Unknown' (null parish_iso_code) and are never dropped, so parish totals add up to platform
  totals. Currency is the ad account's; amounts are never converted.

  Incremental (macros/incremental.sql): a run re-computes only the days of the ad accounts that
  received rows since the last run (the slices), and writes only rows that changed.

  Adding a platform: a CTE with the columns of `meta` below, `union all` it into `unioned`, a
  slice filter on its own watermark, and the platform in the accepted_values test.
#}
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
        insights.reach,
        insights.conversions,
        insights.currency,
        insights.loaded_at
    from {{ ref('stg_meta__insights') }} as insights
    left join {{ ref('stg_parish_aliases') }} as parish_aliases
        on lower(trim(insights.region)) = parish_aliases.alias_key
    {% if is_incremental() %}
    where {{ changed_days(
        ref('stg_meta__insights'), ['tenant_id', 'account_id'],
        since=incremental_watermark(where="platform = 'meta'"), alias='insights') }}
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
        null::bigint                        as reach,
        performance.conversions,
        performance.currency,
        performance.loaded_at
    from {{ ref('stg_google_ads__campaign_performance') }} as performance
    left join {{ ref('stg_google_geo_targets') }} as geo_targets
        on performance.geo_target_criterion_id = geo_targets.criterion_id
    {% if is_incremental() %}
    where {{ changed_days(
        ref('stg_google_ads__campaign_performance'), ['customer_id'],
        since=incremental_watermark(where="platform = 'google_ads'"), alias='performance') }}
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

)

select
    unioned.tenant_id::text                                     as tenant_id,
    unioned.platform::text                                      as platform,
    unioned.account_id::text                                    as account_id,
    unioned.campaign_id::text                                   as campaign_id,
    -- a campaign's name as reported for that day (max: a rename within one day is rare).
    -- Plain max/sum keep the grouping hashable; an ordered array_agg would force a sort of
    -- every input row, the costliest step of an incremental run. dim_campaigns has the newest.
    max(unioned.campaign_name)::text                            as campaign_name,
    unioned.date_day::date                                      as date_day,
    coalesce(parishes.parish, 'Unknown')::text                  as parish,
    parishes.iso_code::text                                     as parish_iso_code,
    sum(unioned.spend)::numeric(18, 4)                          as spend,
    sum(unioned.impressions)::bigint                            as impressions,
    sum(unioned.clicks)::bigint                                 as clicks,
    sum(unioned.reach)::bigint                                  as reach,
    sum(unioned.conversions)::numeric(18, 4)                    as conversions,
    -- one currency per ad account (currency_consistent_per_account checks it)
    max(unioned.currency)::text                                 as currency,
    max(unioned.loaded_at)::timestamptz                         as loaded_at
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
