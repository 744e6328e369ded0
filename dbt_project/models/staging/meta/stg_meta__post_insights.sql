with source as (

    select * from {{ source('meta', 'post_insights') }}

)

select
    tenant_id::text                                          as tenant_id,
    post_id::text                                            as post_id,
    split_part(post_id, '_', 1)                              as page_id,
    metric::text                                             as metric,
    -- Counts are numbers; object-valued metrics (reactions by type) are summed.
    case jsonb_typeof(value)
        when 'number' then value::text::numeric
        when 'object' then (
            select coalesce(sum(v::text::numeric), 0) from jsonb_each(value) as e(k, v)
        )
    end                                                      as value,
    value                                                    as value_json,
    _loaded_at::timestamptz                                  as loaded_at
from source
