-- raw.meta_ad_accounts is keyed (tenant_id, account_id): one row per account already.
select
    tenant_id::text                 as tenant_id,
    account_id::text                as account_id,
    name::text                      as account_name,
    upper(trim(currency))::text     as currency,
    timezone_name::text             as timezone_name,
    account_status::integer         as account_status,
    _loaded_at::timestamptz         as loaded_at
from {{ source('meta', 'ad_accounts') }}
