{#
  Lookup from any known spelling of a parish to its canonical (iso_code, parish).
  Keys are lower(trim(...)) of: every '|'-separated alias, the canonical parish name and the
  ISO code. Join with `lower(trim(region)) = alias_key`.
#}
with parishes as (

    select
        trim(iso_code)  as iso_code,
        trim(parish)    as parish,
        aliases
    from {{ ref('jamaica_parishes') }}

),

keys as (

    select iso_code, parish, parish as alias_value from parishes

    union all

    select iso_code, parish, iso_code as alias_value from parishes

    union all

    select parishes.iso_code, parishes.parish, alias.alias_value
    from parishes
    cross join lateral unnest(string_to_array(coalesce(parishes.aliases, ''), '|')) as alias(alias_value)

)

-- distinct: an alias may repeat the canonical name (e.g. 'Kingston'); a key that points at
-- two different parishes is NOT collapsed and fails the unique test on alias_key.
select distinct
    lower(trim(alias_value))::text  as alias_key,
    iso_code::text                  as iso_code,
    parish::text                    as parish
from keys
where trim(alias_value) <> ''
