-- raw.ga4_daily is keyed by its natural key (tenant, property, date, region, channel group).
select
    tenant_id::text                         as tenant_id,
    property_id::text                       as property_id,
    date::date                              as date_day,
    region::text                            as region,
    session_default_channel_group::text     as channel_group,
    sessions::bigint                        as sessions,
    total_users::bigint                     as total_users,
    new_users::bigint                       as new_users,
    screen_page_views::bigint               as page_views,
    engaged_sessions::bigint                as engaged_sessions,
    key_events::numeric(18, 4)              as key_events,
    _loaded_at::timestamptz                 as loaded_at
from {{ source('ga4', 'daily') }}
