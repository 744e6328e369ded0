select
    tenant_id::text                 as tenant_id,
    page_id::text                   as page_id,
    name::text                      as page_name,
    category::text                  as category,
    _loaded_at::timestamptz         as loaded_at
from {{ source('meta', 'pages') }}
