{#
  Daily ad performance across platforms, one row per
  (tenant_id, platform, account_id, campaign_id, date_day, parish).

  Regions map to Jamaica's parishes: Meta region names through stg_parish_aliases, Google geo
  target criterion ids through stg_google_geo_targets. Unmatched regions become parish
  'Unknown' (null parish_iso_code) and are never dropped, so parish totals add up to platform
  totals.

  Meta is read twice (Type 1 breakdowns: with `region` Meta returns no off-Meta actions):
  stg_meta__insights_ad (ad x day, no breakdown) is the truth for every measure, and
  stg_meta__insights (ad x day x region) only splits it by parish. Per campaign and day, the
  truth's spend, impressions and clicks are split over the parishes in proportion to Meta's
  region rows of each measure, with what the truth holds beyond them on 'Unknown'; when the
  region rows cover the truth (as Meta's do) they are reproduced exactly. Conversions and
  conversion_value, which Meta does not report by region, are allocated in proportion to the
  parishes' clicks (none: impressions, then spend; nothing: all on 'Unknown') and marked
  conversions_estimated. Every split is by cumulative rounding (macros/split_by_share.sql),
  so a campaign-day's parishes add up exactly to the truth. An account-day without ad rows
  (loaded before the two reads) keeps its region rows as its totals. Currency is the ad account's and `spend` is kept as reported; `spend_reporting` is
  `spend` converted to the tenant's reporting currency at that day's rate (the row's date_day,
  the ad account's day): fx_rate = rate(reporting) / rate(currency), both units per 1 USD from
  stg_fx__rates_daily, rounded to 10 places; spend_reporting = round(spend * fx_rate, 6). Same
  currency: fx_rate 1, no rate needed. No rate for the day: fx_rate and spend_reporting null
  (the blocking contract spend_has_exchange_rate and the snapshot name the day), never zero.
  conversion_value (Meta action_values / Google Ads conversions_value under each platform's
  conversion definition, in the account currency) converts the same way into
  conversion_value_reporting.

  Conversions: Meta's counted once per event of the tenant's definition (stg_meta__insights_ad);
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

{%- if is_incremental() -%}
    {#- an account-day is re-computed when either Meta read of it changed -#}
    {%- set meta_since = incremental_watermark(where="platform = 'meta'") -%}
    {%- set meta_slices -%}
        ({{ changed_days(ref('stg_meta__insights_ad'), ['tenant_id', 'account_id'],
                         since=meta_since, alias='insights') }}
         or {{ changed_days(ref('stg_meta__insights'), ['tenant_id', 'account_id'],
                            since=meta_since, alias='insights') }}
         or {{ reconvert_slices(
                since=incremental_watermark(), key_column='tenant_id',
                keys_sql='select tenant_id from ' ~ ref('stg_app__tenants'), alias='insights') }})
    {%- endset -%}
{%- endif %}
{#- what the model takes of either Meta read's rows -#}
{%- set meta_read_columns = [
    'tenant_id', 'account_id', 'campaign_id', 'campaign_name', 'date_day',
    'spend', 'impressions', 'clicks', 'conversions', 'conversion_value', 'currency', 'loaded_at',
] -%}
{#- the grain Meta's truth is split at -#}
{%- set campaign_day = ['tenant_id', 'account_id', 'campaign_id', 'date_day'] %}

with meta_ad_rows as (

    -- the truth: each ad's day as Meta reports it without a breakdown
    select insights.{{ meta_read_columns | join(', insights.') }}
    from {{ ref('stg_meta__insights_ad') }} as insights
    {% if is_incremental() %}where {{ meta_slices }}{% endif %}

),

meta_region_rows as (

    -- the parish split: the same ads' days by region (on-Meta metrics only: Type 1 breakdown)
    select
        insights.{{ meta_read_columns | join(', insights.') }},
        parish_aliases.iso_code             as parish_iso_code
    from {{ ref('stg_meta__insights') }} as insights
    left join {{ ref('stg_parish_aliases') }} as parish_aliases
        on lower(trim(insights.region)) = parish_aliases.alias_key
    {% if is_incremental() %}where {{ meta_slices }}{% endif %}

),

meta_truth as (

    -- per campaign and day. An account-day loaded only by region (before the two reads, or
    -- while a backfill's ad read is still to come) keeps its region rows as its totals.
    select
        tenant_id, account_id, campaign_id, max(campaign_name) as campaign_name, date_day,
        sum(spend) as spend, sum(impressions) as impressions, sum(clicks) as clicks,
        sum(conversions) as conversions, sum(conversion_value) as conversion_value,
        max(currency) as currency, max(loaded_at) as loaded_at,
        -- when the ad rows were loaded: every parish of the campaign-day depends on them
        max(loaded_at) as ad_loaded_at
    from meta_ad_rows
    group by tenant_id, account_id, campaign_id, date_day

    union all

    select
        tenant_id, account_id, campaign_id, max(campaign_name), date_day,
        sum(spend), sum(impressions), sum(clicks),
        -- region rows read since the two reads carry no conversions; such a day also fails
        -- the reconciliation with Meta's account totals, which blocks the snapshot
        coalesce(sum(conversions), 0), coalesce(sum(conversion_value), 0),
        max(currency), max(loaded_at), null::timestamptz
    from meta_region_rows as regions
    where not exists (
        select 1
        from meta_ad_rows as ads
        where ads.tenant_id = regions.tenant_id
          and ads.account_id = regions.account_id
          and ads.date_day = regions.date_day
    )
    group by tenant_id, account_id, campaign_id, date_day

),

meta_regions as (

    select
        tenant_id, account_id, campaign_id, date_day, parish_iso_code,
        sum(spend) as spend, sum(impressions) as impressions, sum(clicks) as clicks,
        max(loaded_at) as loaded_at
    from meta_region_rows
    group by tenant_id, account_id, campaign_id, date_day, parish_iso_code

),

meta_covered as (

    select
        tenant_id, account_id, campaign_id, date_day,
        sum(spend) as spend, sum(impressions) as impressions, sum(clicks) as clicks
    from meta_regions
    group by tenant_id, account_id, campaign_id, date_day

),

meta_parts as (

    -- What each campaign-day's truth is split by: its region rows per parish, plus on parish
    -- 'Unknown' (null) what the truth holds beyond them (nothing when they cover it).
    select
        parts.tenant_id, parts.account_id, parts.campaign_id, parts.date_day,
        parts.parish_iso_code,
        sum(parts.spend) as spend,
        sum(parts.impressions) as impressions,
        sum(parts.clicks) as clicks,
        max(parts.loaded_at) as loaded_at
    from (
        select
            regions.tenant_id, regions.account_id, regions.campaign_id, regions.date_day,
            regions.parish_iso_code, regions.spend, regions.impressions, regions.clicks,
            regions.loaded_at
        from meta_regions as regions
        inner join meta_truth as truth
            on {{ columns_match('truth', 'regions', campaign_day) }}

        union all

        select
            truth.tenant_id, truth.account_id, truth.campaign_id, truth.date_day,
            null::text,
            greatest(truth.spend - coalesce(covered.spend, 0), 0),
            greatest(truth.impressions - coalesce(covered.impressions, 0), 0),
            greatest(truth.clicks - coalesce(covered.clicks, 0), 0),
            truth.ad_loaded_at
        from meta_truth as truth
        left join meta_covered as covered
            on {{ columns_match('covered', 'truth', campaign_day) }}
    ) as parts
    group by
        parts.tenant_id, parts.account_id, parts.campaign_id, parts.date_day,
        parts.parish_iso_code

),

meta_weighted as (

    select
        parts.*,
        -- conversions follow clicks; without clicks impressions, then spend; else 'Unknown'
        case
            when sum(parts.clicks) over campaign_day > 0 then parts.clicks
            when sum(parts.impressions) over campaign_day > 0 then parts.impressions
            when sum(parts.spend) over campaign_day > 0 then parts.spend
            when parts.parish_iso_code is null then 1
            else 0
        end::numeric                        as conversion_weight
    from meta_parts as parts
    window campaign_day as (
        partition by parts.tenant_id, parts.account_id, parts.campaign_id, parts.date_day
    )

),

meta_running as (

    select
        weighted.*,
        sum(weighted.spend) over upto                   as spend_upto,
        sum(weighted.spend) over campaign_day           as spend_whole,
        sum(weighted.impressions) over upto             as impressions_upto,
        sum(weighted.impressions) over campaign_day     as impressions_whole,
        sum(weighted.clicks) over upto                  as clicks_upto,
        sum(weighted.clicks) over campaign_day          as clicks_whole,
        sum(weighted.conversion_weight) over upto       as conversion_weight_upto,
        sum(weighted.conversion_weight) over campaign_day as conversion_weight_whole
    from meta_weighted as weighted
    window
        campaign_day as (
            partition by weighted.tenant_id, weighted.account_id, weighted.campaign_id,
                         weighted.date_day
        ),
        upto as (
            partition by weighted.tenant_id, weighted.account_id, weighted.campaign_id,
                         weighted.date_day
            order by weighted.parish_iso_code nulls last
            rows between unbounded preceding and current row
        )

),

meta_split as (

    select
        running.tenant_id,
        running.account_id,
        running.campaign_id,
        truth.campaign_name,
        running.date_day,
        running.parish_iso_code,
        {{ split_by_share('truth.spend', 'running.spend', 'running.spend_upto',
                          'running.spend_whole', 4) }}                  as spend,
        {{ split_by_share('truth.impressions', 'running.impressions',
                          'running.impressions_upto', 'running.impressions_whole', 0) }}
                                                                        as impressions,
        {{ split_by_share('truth.clicks', 'running.clicks', 'running.clicks_upto',
                          'running.clicks_whole', 0) }}                 as clicks,
        {{ split_by_share('truth.conversions', 'running.conversion_weight',
                          'running.conversion_weight_upto',
                          'running.conversion_weight_whole', 4) }}      as conversions,
        {{ split_by_share('truth.conversion_value', 'running.conversion_weight',
                          'running.conversion_weight_upto',
                          'running.conversion_weight_whole', 4) }}      as conversion_value,
        truth.currency,
        -- a parish row is as new as its own region rows and the campaign-day's ad rows (an
        -- unchanged parish keeps its load time, and is not rewritten)
        coalesce(greatest(running.loaded_at, truth.ad_loaded_at), truth.loaded_at)
                                                                        as loaded_at
    from meta_running as running
    inner join meta_truth as truth
        on {{ columns_match('truth', 'running', campaign_day) }}

),

meta as (

    select
        'meta'::text                        as platform,
        tenant_id,
        account_id,
        campaign_id,
        campaign_name,
        date_day,
        parish_iso_code,
        spend,
        impressions,
        clicks,
        conversions,
        conversion_value,
        -- a parish's share of Meta's conversions is an allocation, not a count Meta made
        true                                as conversions_estimated,
        currency,
        loaded_at
    from meta_split
    where spend <> 0 or impressions <> 0 or clicks <> 0
       or coalesce(conversions, 0) <> 0 or coalesce(conversion_value, 0) <> 0

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
        false                                   as conversions_estimated,
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
        bool_or(unioned.conversions_estimated)                  as conversions_estimated,
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
    conversions_estimated::boolean                              as conversions_estimated,
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
