{#
  Incremental building blocks shared by the large models.

  Every incremental model here keeps `loaded_at`, the load time of the newest input row behind
  each of its rows. A run reads only input rows loaded after the model's own newest `loaded_at`
  minus `incremental_overlap_minutes` (a load transaction stamps its rows when it starts and
  commits a little later), re-computes the slices those rows touch, and writes them with the
  `upsert_changed` strategy below: rows whose content did not change are not written at all,
  so a run with no new data changes no rows.
#}

{% macro incremental_watermark(column='loaded_at', where=none, relation=none, overlap_minutes=none) -%}
    {#-
      A literal, read before the model's query runs: with a literal the planner can use the raw
      tables' load-time statistics and indexes, where a sub-select would be planned blind
      (as a third of the table) and scan everything.
    -#}
    {%- set relation = relation if relation is not none else this -%}
    {%- set overlap = overlap_minutes if overlap_minutes is not none
                      else var('incremental_overlap_minutes') -%}
    {%- if not execute -%}
        {%- do return("'-infinity'::timestamptz") -%}
    {%- endif -%}
    {%- set newest -%}
        select (max({{ column }}) - interval '{{ overlap }} minutes')::text
        from {{ relation }}
        {%- if where %} where {{ where }}{% endif %}
    {%- endset -%}
    {%- set value = run_query(newest).columns[0].values()[0] -%}
    {%- do return("'" ~ (value if value is not none else '-infinity') ~ "'::timestamptz") -%}
{%- endmacro %}


{#
  Custom incremental strategy `upsert_changed` (PostgreSQL):

  1. with config `slice_columns`: the new relation holds complete, re-computed slices; rows of
     those slices that the re-computation no longer produces are deleted (e.g. a region that
     now maps to a parish instead of 'Unknown');
  2. `insert ... on conflict (unique_key) do update` only where a column actually changed
     (`is distinct from`, over every column but config `not_compared_columns`, such as a
     write time); with config `newer_column`, an incoming copy older than the stored one is
     ignored (Airbyte re-delivers rows, and re-read overlaps can bring older copies).

  Needs a unique index on `unique_key` (config `indexes`).
#}
{% macro get_incremental_upsert_changed_sql(arg_dict) %}
    {%- set target = arg_dict['target_relation'] -%}
    {%- set fresh = arg_dict['temp_relation'] -%}
    {%- set unique_key = arg_dict['unique_key'] -%}
    {%- set keys = [unique_key] if unique_key is string else unique_key -%}
    {%- set columns = arg_dict['dest_columns'] | map(attribute='name') | list -%}
    {%- set updated = columns | reject('in', keys) | list -%}
    {%- set compared = updated | reject('in', config.get('not_compared_columns') or []) | list -%}
    {%- set slices = config.get('slice_columns') or [] -%}
    {%- set newer = config.get('newer_column') -%}

    -- temporary tables get no statistics by themselves; without them the planner would compare
    -- every stored row with every new one. Only the key columns are joined on: sampling the
    -- measures too would cost more than the statements it plans.
    analyze {{ fresh }} ({{ (keys + slices) | unique | join(', ') }});
    {%- if slices %}
    delete from {{ target }} as stored
    using (
        select {{ keys | join(', ') }}
        from {{ target }}
        where ({{ slices | join(', ') }}) in (select {{ slices | join(', ') }} from {{ fresh }})
        except
        select {{ keys | join(', ') }} from {{ fresh }}
    ) as gone
    where {% for k in keys %}stored.{{ k }} = gone.{{ k }}{% if not loop.last %} and {% endif %}{% endfor %};
    {% endif %}

    insert into {{ target }} as stored ({{ columns | join(', ') }})
    select {{ columns | join(', ') }} from {{ fresh }}
    on conflict ({{ keys | join(', ') }}) do update set
        {% for c in updated %}{{ c }} = excluded.{{ c }}{% if not loop.last %}, {% endif %}{% endfor %}
    where ({% for c in compared %}stored.{{ c }}{% if not loop.last %}, {% endif %}{% endfor %})
        is distinct from
        ({% for c in compared %}excluded.{{ c }}{% if not loop.last %}, {% endif %}{% endfor %})
    {%- if newer %}
        and excluded.{{ newer }} >= stored.{{ newer }}
    {%- endif %}
{% endmacro %}


{#
  SQL condition selecting the days to re-compute: for every `keys` group (e.g. tenant and ad
  account) with rows in `relation` loaded after `since`, the span of days between its oldest and
  newest such row. Queried when the model runs and inlined as literals, so the planner reads
  each span through the raw table's (key, day) index instead of scanning history. 'false' when
  nothing was loaded. `alias` qualifies the columns in the model's query.
#}
{% macro changed_days(relation, keys, since, date_column='date_day', alias=none) -%}
    {%- if not execute -%}
        {%- do return('true') -%}
    {%- endif -%}
    {%- set spans_sql -%}
        select {% for k in keys %}{{ k }}::text, {% endfor %}
               min({{ date_column }})::text, max({{ date_column }})::text
        from {{ relation }}
        where loaded_at > {{ since }}
        group by {{ keys | join(', ') }}
    {%- endset -%}
    {%- set spans = run_query(spans_sql).rows -%}
    {%- if spans | length == 0 -%}
        {%- do return('false') -%}
    {%- endif -%}
    {%- set prefix = (alias ~ '.') if alias else '' -%}
    {%- set branches = [] -%}
    {%- for span in spans -%}
        {%- set terms = [] -%}
        {%- for k in keys -%}
            {%- if span[loop.index0] is none -%}
                {%- do terms.append(prefix ~ k ~ ' is null') -%}
            {%- else -%}
                {%- do terms.append(prefix ~ k ~ " = '" ~ (span[loop.index0] | replace("'", "''")) ~ "'") -%}
            {%- endif -%}
        {%- endfor -%}
        {%- do terms.append(prefix ~ date_column ~ " between '" ~ span[keys | length] ~ "' and '"
                            ~ span[keys | length + 1] ~ "'") -%}
        {%- do branches.append('(' ~ terms | join(' and ') ~ ')') -%}
    {%- endfor -%}
    {%- do return('(' ~ branches | join('\n        or ') ~ ')') -%}
{%- endmacro %}


{#
  SQL condition selecting the rows to re-convert to reporting currencies: every day whose
  exchange rate changed since `since` (a new day, a provider's correction, an import, a carried
  rate replaced), for every key in `keys_sql` (all tenants' or all customers' ids, so the
  planner reads the (key, day) index), and every day of the tenants whose reporting currency
  was set since `since`. Literals, as in changed_days; 'false' when nothing changed.
#}
{% macro reconvert_slices(since, key_column, keys_sql, alias, date_column='date_day') -%}
    {%- if not execute -%}
        {%- do return('true') -%}
    {%- endif -%}
    {%- set prefix = alias ~ '.' -%}
    {%- set days_sql -%}
        select distinct rate_date::text from {{ ref('stg_fx__rates_daily') }}
        where loaded_at > {{ since }} order by 1
    {%- endset -%}
    {%- set tenants_sql -%}
        select tenant_id from {{ ref('stg_app__tenants') }}
        where reporting_currency_set_at > {{ since }} order by 1
    {%- endset -%}
    {%- set days = run_query(days_sql).columns[0].values() -%}
    {%- set tenants = run_query(tenants_sql).columns[0].values() -%}
    {%- set branches = [] -%}
    {%- if days | length > 0 -%}
        {%- set keys = run_query(keys_sql).columns[0].values() | reject('none') | list -%}
        {%- if keys | length > 0 -%}
            {%- do branches.append('(' ~ prefix ~ key_column ~ " in ('"
                ~ (keys | map('replace', "'", "''") | join("', '")) ~ "') and "
                ~ prefix ~ date_column ~ " in ('" ~ (days | join("', '")) ~ "'))") -%}
        {%- endif -%}
    {%- endif -%}
    {%- if tenants | length > 0 -%}
        {%- do branches.append('(' ~ prefix ~ "tenant_id in ('"
            ~ (tenants | map('replace', "'", "''") | join("', '")) ~ "'))") -%}
    {%- endif -%}
    {%- do return('(' ~ (branches | join(' or ') if branches else 'false') ~ ')') -%}
{%- endmacro %}
