with source as (

    select * from {{ source('meta', 'ad_accounts') }}

),

renamed as (

    select
        tenant_id::text                 as tenant_id,
        account_id::text                as account_id,
        name::text                      as account_name,
        upper(trim(currency))::text     as currency,
        timezone_name::text             as timezone_name,
        account_status::integer         as account_status,
        _loaded_at::timestamptz         as loaded_at,
        row_number() over (
            partition by tenant_id, account_id
            order by _loaded_at desc
        )                               as _row_num
    from source

)

select
    tenant_id,
    account_id,
    account_name,
    currency,
    timezone_name,
    account_status,
    loaded_at
from renamed
where _row_num = 1
