{#
  Airbyte appends: the same (customer, campaign, day, region) arrives again with every re-sync of
  the conversion window. This model keeps the newest copy (latest _airbyte_extracted_at) per
  natural key, reading only what Airbyte extracted since the last run, less var
  `airbyte_overlap_minutes` (see macros/incremental.sql), and never letting an older copy replace
  a newer one (`newer_column`). `loaded_at` is when an incremental run stored the row's current
  version (what the marts' watermarks follow; Airbyte's extraction stamp after a full refresh);
  `extracted_at` is Airbyte's stamp.

  tenant_id comes from the tenant's google_ads Airbyte connection (source_account_id = customer
  id); a customer with no connection keeps a null tenant_id, which the not_null test reports.
#}
{{
    config(
        materialized='incremental',
        incremental_strategy='upsert_changed',
        unique_key=['customer_id', 'campaign_id', 'date_day', 'geo_target_constant'],
        newer_column='extracted_at',
        not_compared_columns=['loaded_at'],
        on_schema_change='fail',
        indexes=[
            {'columns': ['customer_id', 'campaign_id', 'date_day', 'geo_target_constant'],
             'unique': True},
            {'columns': ['customer_id', 'date_day']},
            {'columns': ['extracted_at']},
            {'columns': ['loaded_at']},
        ],
    )
}}

with source as (

    select * from {{ source('google_ads', 'campaign_performance') }}
    {% if is_incremental() %}
    where _airbyte_extracted_at > {{ incremental_watermark(
        column='extracted_at', overlap_minutes=var('airbyte_overlap_minutes')) }}
    {% endif %}

),

renamed as (

    select
        regexp_replace(customer_id, '[^0-9]', '', 'g')::text          as customer_id,
        campaign_id::text                                              as campaign_id,
        campaign_name::text                                            as campaign_name,
        campaign_status::text                                          as campaign_status,
        segments_date::date                                            as date_day,
        coalesce(segments_geo_target_region, '(not set)')::text       as geo_target_constant,
        case when segments_geo_target_region like 'geoTargetConstants/%'
             then split_part(segments_geo_target_region, '/', 2)
        end::text                                                      as geo_target_criterion_id,
        (coalesce(metrics_cost_micros, 0) / 1000000.0)::numeric(18, 4) as cost,
        coalesce(metrics_impressions, 0)::bigint                       as impressions,
        coalesce(metrics_clicks, 0)::bigint                            as clicks,
        coalesce(metrics_conversions, 0)::numeric(18, 4)               as conversions,
        coalesce(metrics_conversions_value, 0)::numeric(18, 4)         as conversions_value,
        upper(trim(customer_currency_code))::text                      as currency,
        _airbyte_extracted_at::timestamptz                             as extracted_at,
        row_number() over (
            partition by customer_id, campaign_id, segments_date, segments_geo_target_region
            order by _airbyte_extracted_at desc, _airbyte_raw_id desc
        )                                                              as _row_num
    from source

),

connections as (

    select tenant_id, source_account_id
    from {{ ref('stg_app__airbyte_connections') }}
    where provider = 'google_ads'

)

select
    connections.tenant_id::text         as tenant_id,
    renamed.customer_id,
    renamed.campaign_id,
    renamed.campaign_name,
    renamed.campaign_status,
    renamed.date_day,
    renamed.geo_target_constant,
    renamed.geo_target_criterion_id,
    renamed.cost,
    renamed.impressions,
    renamed.clicks,
    renamed.conversions,
    renamed.conversions_value,
    renamed.currency,
    renamed.extracted_at,
    -- a full refresh re-builds rows, it does not make them new to the marts
    {% if is_incremental() %}now(){% else %}renamed.extracted_at{% endif %}::timestamptz
                                        as loaded_at
from renamed
left join connections
    on connections.source_account_id = renamed.customer_id
where renamed._row_num = 1
