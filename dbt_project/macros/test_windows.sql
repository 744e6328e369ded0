{#
  Tests of the large staging models look only at the rows their incremental consumer has not
  modelled yet: `config: {where: "__unmodelled__", meta: {unmodelled_by: {model: <consumer>,
  where: <filter on the consumer>}}}`. Rows already modelled passed these tests when they were
  new (a failing test blocks the consumer, whose watermark then stays put, so a bad row stays in
  the window until it is fixed). On --full-refresh, or before the consumer exists, every row is
  tested. This keeps a 15-minute build's tests in proportion to new data, like its models.

  dbt's own get_where_subquery, extended with that placeholder (the documented way to make
  `where` dynamic).
#}
{% macro get_where_subquery(relation) -%}
    {%- set where = config.get('where') -%}
    {%- if where and '__unmodelled__' in where -%}
        {%- set where = where | replace('__unmodelled__', unmodelled_rows_filter()) -%}
    {%- endif -%}
    {%- if where -%}
        {%- set filtered -%}
            (select * from {{ relation }} where {{ where }}) dbt_subquery
        {%- endset -%}
        {%- do return(filtered) -%}
    {%- else -%}
        {%- do return(relation) -%}
    {%- endif -%}
{%- endmacro %}


{% macro unmodelled_rows_filter() -%}
    {%- if not execute or flags.FULL_REFRESH -%}
        {%- do return('true') -%}
    {%- endif -%}
    {%- set window = (config.get('meta') or {}).get('unmodelled_by') -%}
    {%- if not window or not window.get('model') -%}
        {%- do exceptions.raise_compiler_error(
            "where: __unmodelled__ needs meta.unmodelled_by.model on the test") -%}
    {%- endif -%}
    {%- set nodes = graph.nodes.values()
        | selectattr('resource_type', 'equalto', 'model')
        | selectattr('name', 'equalto', window['model'])
        | list -%}
    {%- if not nodes -%}
        {%- do exceptions.raise_compiler_error("unmodelled_by: no model " ~ window['model']) -%}
    {%- endif -%}
    {%- set consumer = adapter.get_relation(
        database=nodes[0].database, schema=nodes[0].schema, identifier=nodes[0].alias) -%}
    {%- if consumer is none -%}
        {%- do return('true') -%}
    {%- endif -%}
    {%- do return("loaded_at > " ~ incremental_watermark(where=window.get('where'), relation=consumer)) -%}
{%- endmacro %}
