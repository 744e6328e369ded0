select
    id::text                                    as tenant_id,
    reporting_currency::text                    as reporting_currency,
    reporting_currency_set_at::timestamptz      as reporting_currency_set_at
from {{ source('app', 'tenants') }}
