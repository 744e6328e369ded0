{#
  Fails for every row where the column is greater than another column of the same row (e.g.
  reach at most impressions: a person reached was shown the ad at least once). Nulls pass.
#}
{% test at_most(model, column_name, other) %}

select {{ column_name }}, {{ other }}
from {{ model }}
where {{ column_name }} > {{ other }}

{% endtest %}
