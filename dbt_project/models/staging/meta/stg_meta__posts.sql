select
    tenant_id::text                 as tenant_id,
    post_id::text                   as post_id,
    page_id::text                   as page_id,
    message::text                   as message,
    permalink_url::text             as permalink_url,
    created_time::timestamptz       as created_at,
    _loaded_at::timestamptz         as loaded_at
from {{ source('meta', 'posts') }}
