{#
  Ad accounts across platforms, one row per (tenant_id, platform, account_id).
  Meta: the synced ad accounts. Google Ads: each tenant's google_ads Airbyte connection is one
  customer (account); its currency is the one on the customer's newest rows.
#}
with meta as (

    select
        tenant_id,
        'meta'::text                                as platform,
        account_id,
        account_name,
        currency,
        timezone_name,
        -- Meta account_status codes: 1 active, 2 disabled, 3 unsettled, 7 pending risk review,
        -- 8 pending settlement, 9 in grace period, 100 pending closure, 101 closed
        case account_status
            when 1 then 'active'
            when 2 then 'disabled'
            when 101 then 'closed'
            when 100 then 'closed'
            else 'restricted'
        end                                         as status,
        loaded_at
    from {{ ref('stg_meta__ad_accounts') }}

),

google_ads as (

    select
        connections.tenant_id,
        'google_ads'::text                          as platform,
        connections.source_account_id               as account_id,
        null::text                                  as account_name,
        newest.currency,
        null::text                                  as timezone_name,
        case when connections.is_active then 'active' else 'disabled' end
                                                    as status,
        newest.loaded_at
    from {{ ref('stg_app__airbyte_connections') }} as connections
    left join lateral (
        select performance.currency, performance.loaded_at
        from {{ ref('stg_google_ads__campaign_performance') }} as performance
        where performance.customer_id = connections.source_account_id
        order by performance.date_day desc, performance.loaded_at desc
        limit 1
    ) as newest on true
    where connections.provider = 'google_ads'
      and connections.source_account_id is not null

)

select
    tenant_id::text         as tenant_id,
    platform::text          as platform,
    account_id::text        as account_id,
    account_name::text      as account_name,
    currency::text          as currency,
    timezone_name::text     as timezone_name,
    status::text            as status,
    loaded_at::timestamptz  as loaded_at
from meta
union all
select
    tenant_id, platform, account_id, account_name, currency, timezone_name, status, loaded_at
from google_ads
