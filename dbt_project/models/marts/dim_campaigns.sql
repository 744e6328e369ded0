{#
  Campaigns across platforms, one row per (tenant_id, platform, campaign_id): every campaign
  that delivered (from the fact) and every Meta campaign of the hierarchy sync, even one that
  never delivered. Names are the newest; status and objective come from the platform.
  Incremental: a run reads only the fact rows and hierarchy rows loaded since its watermark and
  merges them with the stored row (the delivery span only widens).
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

with delivered_since as (

    -- the fact rows loaded since the last run (all of them on a full build)
    select
        tenant_id,
        platform,
        campaign_id,
        min(account_id)                                                     as account_id,
        (array_agg(campaign_name order by date_day desc, loaded_at desc))[1] as campaign_name,
        min(date_day)                                                       as first_active_date,
        max(date_day)                                                       as last_active_date,
        max(loaded_at)                                                      as loaded_at
    from {{ ref('fct_ad_performance_daily') }}
    where loaded_at > {{ since }}
    group by tenant_id, platform, campaign_id

),

delivered as (

    {% if is_incremental() %}
    -- merged with what this model already knows, so history is not re-read: the delivery
    -- span only widens, and the name is the one of the newest day
    select
        fresh.tenant_id,
        fresh.platform,
        fresh.campaign_id,
        coalesce(stored.account_id, fresh.account_id)                       as account_id,
        case when stored.last_active_date > fresh.last_active_date
             then stored.campaign_name else fresh.campaign_name end         as campaign_name,
        least(stored.first_active_date, fresh.first_active_date)            as first_active_date,
        greatest(stored.last_active_date, fresh.last_active_date)           as last_active_date,
        fresh.loaded_at
    from delivered_since as fresh
    left join {{ this }} as stored
        on stored.tenant_id = fresh.tenant_id
       and stored.platform = fresh.platform
       and stored.campaign_id = fresh.campaign_id
    {% else %}
    select * from delivered_since
    {% endif %}

),

changed as (

    select tenant_id, platform, campaign_id from delivered
    union
    select tenant_id, 'meta', campaign_id
    from {{ ref('stg_meta__campaigns') }}
    where loaded_at > {{ since }}

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

{% if is_incremental() %}
stored_delivery as (

    -- campaigns whose hierarchy row changed but that delivered nothing new keep their span
    select stored.tenant_id, stored.platform, stored.campaign_id, stored.account_id,
           stored.campaign_name, stored.first_active_date, stored.last_active_date,
           stored.loaded_at
    from {{ this }} as stored
    join changed using (tenant_id, platform, campaign_id)
    where not exists (
        select 1 from delivered
        where delivered.tenant_id = stored.tenant_id
          and delivered.platform = stored.platform
          and delivered.campaign_id = stored.campaign_id
    )

),

{% endif %}
all_delivered as (

    select * from delivered
    {% if is_incremental() %}
    union all
    select * from stored_delivery
    {% endif %}

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
    from all_delivered as delivered
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
