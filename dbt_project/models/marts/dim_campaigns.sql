{#
  Campaigns across platforms, one row per (tenant_id, platform, campaign_id): every campaign
  that delivered (from the fact) and every Meta campaign of the hierarchy sync, even one that
  never delivered. Names are the newest; status and objective come from the platform.
  Incremental: a run re-computes only the campaigns with fact rows or hierarchy rows loaded
  since its watermark.
#}
{{
    config(
        materialized='incremental',
        incremental_strategy='upsert_changed',
        unique_key=['tenant_id', 'platform', 'campaign_id'],
        on_schema_change='fail',
        indexes=[
            {'columns': ['tenant_id', 'platform', 'campaign_id'], 'unique': True},
            {'columns': ['loaded_at']},
        ],
    )
}}

{%- set since = incremental_watermark() if is_incremental() else "'-infinity'::timestamptz" %}

with changed as (

    select distinct tenant_id, platform, account_id, campaign_id
    from {{ ref('fct_ad_performance_daily') }}
    where loaded_at > {{ since }}
    union
    select tenant_id, 'meta', account_id, campaign_id
    from {{ ref('stg_meta__campaigns') }}
    where loaded_at > {{ since }}

),

delivered as (

    select
        fct.tenant_id,
        fct.platform,
        fct.campaign_id,
        min(fct.account_id)                                                         as account_id,
        (array_agg(fct.campaign_name order by fct.date_day desc, fct.loaded_at desc))[1]
                                                                                    as campaign_name,
        min(fct.date_day)                                                           as first_active_date,
        max(fct.date_day)                                                           as last_active_date,
        max(fct.loaded_at)                                                          as loaded_at
    from {{ ref('fct_ad_performance_daily') }} as fct
    join changed
        on changed.tenant_id = fct.tenant_id
       and changed.platform = fct.platform
       and changed.account_id = fct.account_id
       and changed.campaign_id = fct.campaign_id
    group by fct.tenant_id, fct.platform, fct.campaign_id

),

meta_campaigns as (

    select
        campaigns.tenant_id,
        'meta'::text                as platform,
        campaigns.campaign_id,
        campaigns.account_id,
        campaigns.campaign_name,
        campaigns.status,
        campaigns.effective_status,
        campaigns.objective,
        campaigns.daily_budget_minor,
        campaigns.loaded_at
    from {{ ref('stg_meta__campaigns') }} as campaigns
    join changed
        on changed.tenant_id = campaigns.tenant_id
       and changed.platform = 'meta'
       and changed.campaign_id = campaigns.campaign_id

),

campaigns as (

    select
        coalesce(delivered.tenant_id, meta_campaigns.tenant_id)         as tenant_id,
        coalesce(delivered.platform, meta_campaigns.platform)           as platform,
        coalesce(delivered.campaign_id, meta_campaigns.campaign_id)     as campaign_id,
        coalesce(meta_campaigns.account_id, delivered.account_id)       as account_id,
        coalesce(meta_campaigns.campaign_name, delivered.campaign_name) as campaign_name,
        meta_campaigns.status,
        meta_campaigns.effective_status,
        meta_campaigns.objective,
        meta_campaigns.daily_budget_minor,
        delivered.first_active_date,
        delivered.last_active_date,
        greatest(delivered.loaded_at, meta_campaigns.loaded_at)         as loaded_at
    from delivered
    full outer join meta_campaigns
        on meta_campaigns.tenant_id = delivered.tenant_id
       and meta_campaigns.platform = delivered.platform
       and meta_campaigns.campaign_id = delivered.campaign_id

)

select
    campaigns.tenant_id::text                                   as tenant_id,
    campaigns.platform::text                                    as platform,
    campaigns.account_id::text                                  as account_id,
    campaigns.campaign_id::text                                 as campaign_id,
    campaigns.campaign_name::text                               as campaign_name,
    upper(coalesce(campaigns.status, google_ads.campaign_status))::text as status,
    campaigns.effective_status::text                            as effective_status,
    campaigns.objective::text                                   as objective,
    campaigns.daily_budget_minor::numeric(18, 0)                as daily_budget_minor,
    campaigns.first_active_date::date                           as first_active_date,
    campaigns.last_active_date::date                            as last_active_date,
    campaigns.loaded_at::timestamptz                            as loaded_at
from campaigns
left join lateral (
    select performance.campaign_status
    from {{ ref('stg_google_ads__campaign_performance') }} as performance
    where campaigns.platform = 'google_ads'
      and performance.customer_id = campaigns.account_id
      and performance.campaign_id = campaigns.campaign_id
    order by performance.date_day desc, performance.loaded_at desc
    limit 1
) as google_ads on true
