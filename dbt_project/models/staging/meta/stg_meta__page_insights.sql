with source as (

    select * from {{ source('meta', 'page_insights') }}

)

select
    tenant_id::text                                          as tenant_id,
    page_id::text                                            as page_id,
    metric::text                                             as metric,
    period::text                                             as period,
    -- Meta stamps a day's value at the end of that day in the page's time zone.
    (end_time at time zone 'America/Jamaica')::date - 1      as date_day,
    value::numeric(20, 4)                                    as value,
    _loaded_at::timestamptz                                  as loaded_at
from source
where period = 'day'
