select
    tenant_id::text                 as tenant_id,
    ad_id::text                     as ad_id,
    adset_id::text                  as adset_id,
    campaign_id::text               as campaign_id,
    account_id::text                as account_id,
    name::text                      as ad_name,
    status::text                    as status,
    effective_status::text          as effective_status,
    created_time::timestamptz       as created_at,
    updated_time::timestamptz       as updated_at,
    _loaded_at::timestamptz         as loaded_at
from {{ source('meta', 'ads') }}
