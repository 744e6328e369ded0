{#
  A join condition: `left` and `right` (relation aliases) agree on every one of `columns`,
  e.g. columns_match('truth', 'regions', ['tenant_id', 'date_day']) is
  truth.tenant_id = regions.tenant_id and truth.date_day = regions.date_day.
#}
{% macro columns_match(left, right, columns) -%}
    {%- for column in columns -%}
        {{ left }}.{{ column }} = {{ right }}.{{ column }}{% if not loop.last %} and {% endif %}
    {%- endfor -%}
{%- endmacro %}
