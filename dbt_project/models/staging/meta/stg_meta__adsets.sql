select
    tenant_id::text                 as tenant_id,
    adset_id::text                  as adset_id,
    campaign_id::text               as campaign_id,
    account_id::text                as account_id,
    name::text                      as adset_name,
    status::text                    as status,
    effective_status::text          as effective_status,
    daily_budget::numeric(18, 0)    as daily_budget_minor,
    created_time::timestamptz       as created_at,
    updated_time::timestamptz       as updated_at,
    _loaded_at::timestamptz         as loaded_at
from {{ source('meta', 'adsets') }}
