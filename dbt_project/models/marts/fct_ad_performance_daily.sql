{#
  Daily ad performance per tenant / platform / account / campaign / parish.

  Adding a platform: build its staging model with the same columns as `meta_insights` below
  (tenant_id, account_id, campaign_id, campaign_name, date_day, region, spend, impressions,
  clicks, reach, conversions, currency, loaded_at), add a CTE and `union all` it into
  `insights`, then add the platform to the accepted_values test in the YAML.
#}
with meta_insights as (

    select
        'meta'::text as platform,
        tenant_id,
        account_id,
        campaign_id,
        campaign_name,
        date_day,
        region,
        spend,
        impressions,
        clicks,
        reach,
        conversions,
        currency,
        loaded_at
    from {{ ref('stg_meta__insights') }}

),

insights as (

    select * from meta_insights
    -- union all
    -- select * from google_ads_insights

),

parish_aliases as (

    select alias_key, iso_code, parish
    from {{ ref('stg_parish_aliases') }}

),

mapped as (

    -- left join: regions that match no alias are kept as parish 'Unknown', never dropped.
    select
        insights.*,
        coalesce(parish_aliases.parish, 'Unknown') as parish,
        parish_aliases.iso_code                    as parish_iso_code
    from insights
    left join parish_aliases
        on lower(trim(insights.region)) = parish_aliases.alias_key

)

select
    tenant_id::text                                     as tenant_id,
    platform::text                                      as platform,
    account_id::text                                    as account_id,
    campaign_id::text                                   as campaign_id,
    -- campaign names can change; report the most recently loaded one
    ((array_agg(campaign_name order by loaded_at desc nulls last))[1])::text
                                                        as campaign_name,
    date_day::date                                      as date_day,
    parish::text                                        as parish,
    parish_iso_code::text                               as parish_iso_code,
    sum(spend)::numeric(18, 4)                          as spend,
    sum(impressions)::bigint                            as impressions,
    sum(clicks)::bigint                                 as clicks,
    sum(reach)::bigint                                  as reach,
    sum(conversions)::numeric(18, 4)                    as conversions,
    currency::text                                      as currency
from mapped
group by
    tenant_id,
    platform,
    account_id,
    campaign_id,
    date_day,
    parish,
    parish_iso_code,
    currency
