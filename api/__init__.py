"""The JSON API (Starlette) over the warehouse and the Dagster instance.

Mostly reads, not read-only. What writes: ``POST /api/airbyte/webhook/`` (stores the job, audits
it, reports it to Dagster), ``/api/metrics/combined/?cache=false`` (recomputes and stores the
tenant's snapshot), the Meta connector lifecycle (``/api/integrations/meta/*``: tokens,
selections, syncs; audited), ``POST /api/alerts/run/`` (delivers alerts, audited) and every
authenticated request (the key's ``last_used_at``, in the background).
"""
