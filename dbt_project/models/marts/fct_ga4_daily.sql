{#
  GA4 daily web analytics per (tenant_id, property_id, date_day, parish, channel_group).
  GA4 region names ('Saint Andrew Parish') map through stg_parish_aliases; '(not set)' and
  anything unmatched become parish 'Unknown'. Users are summed across regions and channels, so
  treat total_users as an upper bound (GA4 users are not additive).
  Incremental by (tenant, property, day) slice, like fct_ad_performance_daily.
#}
{{
    config(
        materialized='incremental',
        incremental_strategy='upsert_changed',
        unique_key=['tenant_id', 'property_id', 'date_day', 'parish', 'channel_group'],
        slice_columns=['tenant_id', 'property_id', 'date_day'],
        on_schema_change='fail',
        indexes=[
            {'columns': ['tenant_id', 'property_id', 'date_day', 'parish', 'channel_group'],
             'unique': True},
            {'columns': ['loaded_at']},
        ],
    )
}}

with sessions as (

    select ga4.*, parish_aliases.iso_code as parish_iso_code
    from {{ ref('stg_ga4__daily') }} as ga4
    left join {{ ref('stg_parish_aliases') }} as parish_aliases
        on lower(trim(ga4.region)) = parish_aliases.alias_key
    {% if is_incremental() %}
    where {{ changed_days(
        ref('stg_ga4__daily'), ['tenant_id', 'property_id'],
        since=incremental_watermark(), alias='ga4') }}
    {% endif %}

),

parishes as (

    select trim(iso_code) as iso_code, trim(parish) as parish
    from {{ ref('jamaica_parishes') }}

)

select
    sessions.tenant_id::text                        as tenant_id,
    sessions.property_id::text                      as property_id,
    sessions.date_day::date                         as date_day,
    coalesce(parishes.parish, 'Unknown')::text      as parish,
    parishes.iso_code::text                         as parish_iso_code,
    sessions.channel_group::text                    as channel_group,
    sum(sessions.sessions)::bigint                  as sessions,
    sum(sessions.total_users)::bigint               as total_users,
    sum(sessions.new_users)::bigint                 as new_users,
    sum(sessions.page_views)::bigint                as page_views,
    sum(sessions.engaged_sessions)::bigint          as engaged_sessions,
    sum(sessions.key_events)::numeric(18, 4)        as key_events,
    max(sessions.loaded_at)::timestamptz            as loaded_at
from sessions
left join parishes
    on parishes.iso_code = sessions.parish_iso_code
group by
    sessions.tenant_id,
    sessions.property_id,
    sessions.date_day,
    parishes.parish,
    parishes.iso_code,
    sessions.channel_group
