select
    rate_date::date                     as rate_date,
    base::text                          as base,
    quote::text                         as quote,
    rate::numeric(24, 10)               as rate,
    source::text                        as source,
    carried_from::date                  as carried_from,
    fetched_at::timestamptz             as fetched_at,
    _loaded_at::timestamptz             as loaded_at
from {{ source('fx', 'rates_daily') }}
