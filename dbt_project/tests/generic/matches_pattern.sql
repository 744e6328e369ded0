{#
  Fails for every non-null value that does not match the POSIX regular expression `pattern`.
#}
{% test matches_pattern(model, column_name, pattern) %}

select {{ column_name }}
from {{ model }}
where {{ column_name }} is not null
  and {{ column_name }} !~ '{{ pattern }}'

{% endtest %}
