{#
  One part's share of a total, split over the rows of a window in proportion to `part`, by
  cumulative rounding: round(total x upto / whole) - round(total x (upto - part) / whole), where
  `upto` is the window's running sum of `part` up to this row and `whole` its sum. The shares
  add up to exactly round(total, scale) (the total itself at its own scale), whatever the
  parts; a part equal to its share of a whole that equals the total is reproduced exactly.
  0 when the whole is 0; null when the total is null.
#}
{% macro split_by_share(total, part, upto, whole, scale) -%}
    case when {{ whole }} = 0 then 0
         else round({{ total }} * ({{ upto }})::numeric / ({{ whole }}), {{ scale }})
              - round({{ total }} * ({{ upto }} - {{ part }})::numeric / ({{ whole }}), {{ scale }})
    end
{%- endmacro %}
