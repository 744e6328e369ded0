-- Google Ads geo target criterion ids of Jamaica's parishes, with the canonical parish.
select
    trim(geo.criterion_id)::text    as criterion_id,
    trim(geo.iso_code)::text        as iso_code,
    trim(parishes.parish)::text     as parish
from {{ ref('google_geo_targets') }} as geo
join {{ ref('jamaica_parishes') }} as parishes
    on trim(parishes.iso_code) = trim(geo.iso_code)
