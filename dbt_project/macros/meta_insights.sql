{#
  The columns Meta's insights reads share, cast the same way in each model over them
  (stg_meta__insights, stg_meta__insights_ad, stg_meta__insights_level, and
  fct_meta_reach_daily over the last). The raw tables name them as the staging models do.
#}

{#- the ad a row of an ad-level read belongs to, and where it sits in the account -#}
{% macro meta_insights_ad_columns() -%}
    tenant_id::text                     as tenant_id,
    account_id::text                    as account_id,
    campaign_id::text                   as campaign_id,
    campaign_name::text                 as campaign_name,
    adset_id::text                      as adset_id,
    ad_id::text                         as ad_id
{%- endmacro %}


{#- the measures of a row (the region read leaves conversions and conversion_value null) -#}
{% macro meta_insights_measures() -%}
    spend::numeric(18, 4)               as spend,
    impressions::bigint                 as impressions,
    clicks::bigint                      as clicks,
    reach::bigint                       as reach,
    conversions::numeric(18, 4)         as conversions,
    conversion_value::numeric(18, 4)    as conversion_value
{%- endmacro %}


{#- the object a row of a coarser read (stg_meta__insights_level) totals -#}
{% macro meta_insights_level_columns() -%}
    tenant_id::text                     as tenant_id,
    account_id::text                    as account_id,
    level::text                         as level,
    object_id::text                     as object_id,
    object_name::text                   as object_name
{%- endmacro %}
