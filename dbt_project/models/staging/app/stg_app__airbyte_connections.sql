select
    connection_id::text                                         as connection_id,
    tenant_id::text                                             as tenant_id,
    provider::text                                              as provider,
    -- Google Ads customer ids are written 123-456-7890 by people and 1234567890 by the API.
    case when provider = 'google_ads'
         then regexp_replace(source_account_id, '[^0-9]', '', 'g')
         else source_account_id
    end::text                                                   as source_account_id,
    is_active::boolean                                          as is_active,
    created_at::timestamptz                                     as created_at
from {{ source('app', 'airbyte_connections') }}
