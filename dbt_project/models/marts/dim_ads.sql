{#
  Meta ads with their ad set and campaign, one row per (tenant_id, ad_id): every ad of the
  hierarchy sync, ARCHIVED and DELETED ones included (the sync asks for every status), so an
  ad that spent and was deleted since keeps its names, parents and status. Names are Meta's
  current ones; statuses are the configured `status` and Meta's computed `effective_status`.
  A table (the hierarchy is small next to the facts): rebuilt on every dbt run.
#}
select
    ads.tenant_id::text                         as tenant_id,
    'meta'::text                                as platform,
    ads.account_id::text                        as account_id,
    ads.campaign_id::text                       as campaign_id,
    campaigns.campaign_name::text               as campaign_name,
    campaigns.effective_status::text            as campaign_effective_status,
    ads.adset_id::text                          as adset_id,
    adsets.adset_name::text                     as adset_name,
    adsets.status::text                         as adset_status,
    adsets.effective_status::text               as adset_effective_status,
    ads.ad_id::text                             as ad_id,
    ads.ad_name::text                           as ad_name,
    ads.status::text                            as status,
    ads.effective_status::text                  as effective_status,
    ads.created_at::timestamptz                 as created_at,
    ads.updated_at::timestamptz                 as updated_at,
    greatest(ads.loaded_at, adsets.loaded_at, campaigns.loaded_at)::timestamptz as loaded_at
from {{ ref('stg_meta__ads') }} as ads
left join {{ ref('stg_meta__adsets') }} as adsets
    on adsets.tenant_id = ads.tenant_id
   and adsets.adset_id = ads.adset_id
left join {{ ref('stg_meta__campaigns') }} as campaigns
    on campaigns.tenant_id = ads.tenant_id
   and campaigns.campaign_id = ads.campaign_id
