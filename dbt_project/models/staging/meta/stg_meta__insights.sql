with source as (

    select * from {{ source('meta', 'insights') }}

),

renamed as (

    select
        tenant_id::text                 as tenant_id,
        account_id::text                as account_id,
        campaign_id::text               as campaign_id,
        campaign_name::text             as campaign_name,
        adset_id::text                  as adset_id,
        ad_id::text                     as ad_id,
        date_start::date                as date_day,
        region::text                    as region,
        spend::numeric(18, 4)           as spend,
        impressions::bigint             as impressions,
        clicks::bigint                  as clicks,
        reach::bigint                   as reach,
        conversions::numeric(18, 4)     as conversions,
        upper(trim(currency))::text     as currency,
        _loaded_at::timestamptz         as loaded_at,
        -- Natural key: a re-delivered row for the same ad/day/region supersedes older loads.
        row_number() over (
            partition by tenant_id, ad_id, date_start, region
            order by _loaded_at desc
        )                               as _row_num
    from source

)

select
    tenant_id,
    account_id,
    campaign_id,
    campaign_name,
    adset_id,
    ad_id,
    date_day,
    region,
    spend,
    impressions,
    clicks,
    reach,
    conversions,
    currency,
    loaded_at
from renamed
where _row_num = 1
