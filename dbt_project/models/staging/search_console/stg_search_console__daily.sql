-- raw.search_console_daily is keyed by its natural key (tenant, site, date, query, page,
-- country, device); position is Google's average (1 = top), ctr a fraction.
select
    tenant_id::text                 as tenant_id,
    site_url::text                  as site_url,
    date::date                      as date_day,
    query::text                     as query,
    page::text                      as page,
    lower(country)::text            as country,
    upper(device)::text             as device,
    clicks::bigint                  as clicks,
    impressions::bigint             as impressions,
    ctr::double precision           as ctr,
    position::double precision      as position,
    data_state::text                as data_state,
    _loaded_at::timestamptz         as loaded_at
from {{ source('search_console', 'daily') }}
