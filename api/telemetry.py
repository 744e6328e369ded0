"""Prometheus metrics for ``GET /metrics/app/`` (official ``prometheus-client``).

Two kinds, in one registry per app:

- request metrics, updated by the observability middleware on every request:
  ``api_requests_total`` and ``api_request_duration_seconds`` by method, route template (never
  the raw path: ids would explode the series) and status;
- freshness gauges, read when Prometheus scrapes (a custom collector), from timestamps cached
  for ``metrics_cache_seconds`` so a scrape storm costs at most one round of queries per
  interval; ages are computed at scrape time from the cached timestamps:
  ``meta_sync_age_seconds``, ``airbyte_sync_age_seconds``, ``metrics_snapshot_age_seconds``
  per tenant (``+Inf`` when a tenant that should have one never had a success), and
  ``dbt_run_duration_seconds`` (+ ``dbt_run_finished_timestamp_seconds``, ``dbt_run_success``)
  of the latest finished run of the Dagster job ``dbt_build``;
  ``dagster_daemon_heartbeat_age_seconds`` per required daemon type (``+Inf``: that type has
  no heartbeat), so Prometheus can alert on a dead daemon without the daemon's help.
- Airbyte webhook health, from the stored rows (every API replica exports the same numbers,
  whichever received the webhooks): ``airbyte_webhook_delay_seconds`` (a histogram of the delay
  from a job's end to its webhook reaching us), ``airbyte_webhook_jobs_total`` (jobs whose
  webhook arrived, by job status), ``airbyte_webhook_last_received_timestamp_seconds`` and
  ``airbyte_webhook_silence_seconds`` (the alert sensor's webhook-silence measure: seconds since
  the first job that finished after the newest webhook without one; 0 when none).
"""

from __future__ import annotations

import hashlib
import logging
import math
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import sqlalchemy as sa
from dagster import DagsterInstance, DagsterRunStatus, RunsFilter
from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from sqlalchemy.engine import Engine

from adinsights_pipelines.daemon_health import DaemonHeartbeats, read_heartbeats
from adinsights_pipelines.defs.alerts.observe import WebhookFacts, webhook_facts
from adinsights_pipelines.warehouse.tolerant import (
    UnreadableValue,
    log_unreadable_once,
    unreadable_columns,
    unreadable_reason,
)

log = logging.getLogger("api.metrics")

DBT_JOB = "dbt_build"
FINISHED = [DagsterRunStatus.SUCCESS, DagsterRunStatus.FAILURE, DagsterRunStatus.CANCELED]
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class RequestMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.requests = Counter(
            "api_requests",
            "API requests answered, by method, route template and status.",
            ("method", "route", "status"),
            registry=registry,
        )
        self.latency = Histogram(
            "api_request_duration_seconds",
            "Time to answer an API request, by method, route template and status.",
            ("method", "route", "status"),
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        # label lookups cost more than the increments; the label sets are few
        self._children: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        key = (method, route, status)
        children = self._children.get(key)
        if children is None:
            labels = (method if method in KNOWN_METHODS else "OTHER", route, str(status))
            children = (self.requests.labels(*labels), self.latency.labels(*labels))
            self._children[key] = children
        children[0].inc()
        children[1].observe(seconds)


_TENANT_TIMES_SQL = """
select t.id as tenant_id,
       (select max(s.last_success_at) from app.meta_sync_state s where s.tenant_id = t.id)
         as meta_last_success,
       (exists (select 1 from app.meta_sync_state s where s.tenant_id = t.id)
        or exists (select 1 from app.platform_credentials c
                    where c.tenant_id = t.id and c.provider = 'meta')) as meta_expected,
       (select max(j.finished_at) from app.airbyte_jobs j
         where j.tenant_id = t.id and j.status = 'succeeded') as airbyte_last_success,
       exists (select 1 from app.airbyte_connections a where a.tenant_id = t.id and a.is_active)
         as airbyte_expected,
       m.snapshot_generated_at
  from app.tenants t
  left join app.metrics_snapshots m on m.tenant_id = t.id
 where t.status = 'active'
 order by t.id
"""


@dataclass(frozen=True)
class TenantTimes:
    tenant_id: str
    meta_last_success: datetime | None
    meta_expected: bool
    airbyte_last_success: datetime | None
    airbyte_expected: bool
    snapshot_generated_at: datetime | None


@dataclass(frozen=True)
class DbtRun:
    run_id: str
    start_time: float
    end_time: float
    success: bool


#: Upper bounds of the webhook-delay histogram (seconds from a job's end to its webhook).
WEBHOOK_DELAY_BUCKETS = (1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0)
_DELAY = "greatest(0, extract(epoch from webhook_received_at - finished_at))"
_WEBHOOK_JOBS_SQL = (
    "select status, count(*) as received, "
    f"coalesce(sum({_DELAY}) filter (where finished_at is not null), 0) as delay_sum, "
    "count(*) filter (where finished_at is not null) as delayed, "
    + ", ".join(
        f"count(*) filter (where finished_at is not null and {_DELAY} <= {le}) as le_{i}"
        for i, le in enumerate(WEBHOOK_DELAY_BUCKETS)
    )
    + " from app.airbyte_jobs where webhook_received_at is not null "
    "and tenant_id not like 'alert-sim-%' group by status order by status"
)


@dataclass(frozen=True)
class WebhookDelays:
    received_by_status: dict[str, int]
    buckets: list[int]  # cumulative, per WEBHOOK_DELAY_BUCKETS
    count: int
    total_seconds: float


def read_webhook_delays(engine: Engine) -> tuple[WebhookDelays, WebhookFacts]:
    with engine.connect() as conn:
        rows = conn.execute(sa.text(_WEBHOOK_JOBS_SQL)).all()
        facts = webhook_facts(conn, datetime.now(UTC))
    buckets = [
        sum(int(getattr(r, f"le_{i}")) for r in rows) for i in range(len(WEBHOOK_DELAY_BUCKETS))
    ]
    delays = WebhookDelays(
        received_by_status={r.status: int(r.received) for r in rows},
        buckets=buckets,
        count=sum(int(r.delayed) for r in rows),
        total_seconds=float(sum(float(r.delay_sum) for r in rows)),
    )
    return delays, facts


@dataclass
class _Reading:
    at: float = -math.inf
    tenants: list[TenantTimes] | None = None
    webhooks: tuple[WebhookDelays, WebhookFacts] | None = None
    dbt_run: DbtRun | None = None
    dbt_read: bool = False
    heartbeats: DaemonHeartbeats | None = None
    errors: list[str] = field(default_factory=list)


def read_tenant_times(engine: Engine) -> list[TenantTimes]:
    """Every active tenant's times; a time Python cannot hold stays an ``UnreadableValue``
    (logged once), so that one gauge is left out and the rest are exported."""
    with engine.connect() as conn:
        rows = [dict(row._mapping) for row in conn.execute(sa.text(_TENANT_TIMES_SQL))]
    for row in rows:
        columns = unreadable_columns(row)
        if columns:
            log_unreadable_once("metrics", row["tenant_id"], unreadable_reason(columns))
    return [TenantTimes(**row) for row in rows]


def read_latest_dbt_run(instance: DagsterInstance) -> DbtRun | None:
    records = instance.get_run_records(
        RunsFilter(job_name=DBT_JOB, statuses=FINISHED), limit=1, order_by="update_timestamp"
    )
    if not records:
        return None
    record = records[0]
    if record.start_time is None or record.end_time is None:
        return None
    return DbtRun(
        run_id=record.dagster_run.run_id,
        start_time=record.start_time,
        end_time=record.end_time,
        success=record.dagster_run.status == DagsterRunStatus.SUCCESS,
    )


def tenant_label(tenant_id: str, mode: str) -> str:
    """The ``tenant_id`` label: as is, or ("hashed") a stable digest that keeps series apart
    without naming the client (an operator matches it with ``adinsights tenants list``' ids
    through the same digest)."""
    if mode == "hashed":
        return "t-" + hashlib.blake2b(tenant_id.encode(), digest_size=6).hexdigest()
    return tenant_id


def age_seconds(now: float, moment: datetime | None, expected: bool = True) -> float | None:
    """Seconds since ``moment``; +Inf when it should exist and does not; None: not applicable."""
    if moment is None:
        return math.inf if expected else None
    return max(0.0, now - moment.timestamp())


class FreshnessCollector:
    """Scrape-time gauges over the warehouse and the Dagster instance, with a short cache."""

    def __init__(
        self,
        engine: Callable[[], Engine],
        instance: Callable[[], DagsterInstance],
        cache_seconds: float,
        clock: Callable[[], float] = time.time,
        tenant_labels: str = "plain",
    ) -> None:
        self._engine, self._instance = engine, instance
        self.tenant_labels = tenant_labels
        self.cache_seconds = cache_seconds
        self.clock = clock
        self._lock = threading.Lock()
        self._reading = _Reading()

    def describe(self) -> Iterable[Metric]:
        # names only, so registering does not query anything
        return list(self._families(_Reading(tenants=[], dbt_read=True), 0.0, self.tenant_labels))

    def _read(self) -> _Reading:
        with self._lock:
            if time.monotonic() - self._reading.at < self.cache_seconds:
                return self._reading
            reading = _Reading(at=time.monotonic())
            try:
                reading.tenants = read_tenant_times(self._engine())
            except Exception as exc:  # a scrape must answer even when a source is down
                log.warning("metrics: warehouse unreadable: %s", type(exc).__name__)
                reading.errors.append("warehouse")
            try:  # apart: webhook rows that cannot be read never hide the tenants' gauges
                reading.webhooks = read_webhook_delays(self._engine())
            except Exception as exc:
                log.warning("metrics: Airbyte webhook rows unreadable: %s", type(exc).__name__)
                if "warehouse" not in reading.errors:
                    reading.errors.append("warehouse")
            try:
                reading.dbt_run = read_latest_dbt_run(self._instance())
                reading.dbt_read = True
                reading.heartbeats = read_heartbeats(self._instance())
            except Exception as exc:
                log.warning("metrics: Dagster instance unreadable: %s", type(exc).__name__)
                reading.errors.append("dagster_instance")
            self._reading = reading
            return reading

    def collect(self) -> Iterable[Metric]:
        return list(self._families(self._read(), self.clock(), self.tenant_labels))

    @staticmethod
    def _families(reading: _Reading, now: float, tenant_labels: str) -> Iterable[Metric]:
        # "dropped": one series per gauge, the worst (oldest) age over all tenants
        labels = [] if tenant_labels == "dropped" else ["tenant_id"]
        worst: dict[str, float] = {}
        meta = GaugeMetricFamily(
            "meta_sync_age_seconds",
            "Seconds since the tenant's newest successful Meta account sync "
            "(app.meta_sync_state.last_success_at); +Inf: connected, never succeeded.",
            labels=labels,
        )
        airbyte = GaugeMetricFamily(
            "airbyte_sync_age_seconds",
            "Seconds since the tenant's newest succeeded Airbyte job finished "
            "(app.airbyte_jobs); +Inf: connections exist, none succeeded.",
            labels=labels,
        )
        snapshot = GaugeMetricFamily(
            "metrics_snapshot_age_seconds",
            "Seconds since the tenant's metrics snapshot was generated "
            "(app.metrics_snapshots.snapshot_generated_at); +Inf: no snapshot.",
            labels=labels,
        )
        unreadable = GaugeMetricFamily(
            "app_metrics_unreadable_values",
            "Stored times the freshness gauges could not interpret (a year after 9999 or "
            "infinity); the gauge they feed is left out for that tenant. Details in the log.",
        )
        skipped = 0
        for tenant in reading.tenants or []:
            for family, moment, expected in (
                (meta, tenant.meta_last_success, tenant.meta_expected),
                (airbyte, tenant.airbyte_last_success, tenant.airbyte_expected),
                (snapshot, tenant.snapshot_generated_at, True),
            ):
                if isinstance(moment, UnreadableValue):
                    skipped += 1
                    continue
                age = age_seconds(now, moment, expected)
                if age is None:
                    continue
                if tenant_labels == "dropped":
                    worst[family.name] = max(worst.get(family.name, -math.inf), age)
                else:
                    family.add_metric([tenant_label(tenant.tenant_id, tenant_labels)], age)
        for family in (meta, airbyte, snapshot):
            if family.name in worst:
                family.add_metric([], worst[family.name])
        unreadable.add_metric([], float(skipped))
        yield from (meta, airbyte, snapshot, unreadable)

        duration = GaugeMetricFamily(
            "dbt_run_duration_seconds",
            f"Wall time of the latest finished run of the Dagster job {DBT_JOB}.",
        )
        finished = GaugeMetricFamily(
            "dbt_run_finished_timestamp_seconds",
            f"When the latest finished {DBT_JOB} run ended (Unix time).",
        )
        success = GaugeMetricFamily(
            "dbt_run_success", f"1 if the latest finished {DBT_JOB} run succeeded, else 0."
        )
        run = reading.dbt_run
        if run is not None:
            duration.add_metric([], run.end_time - run.start_time)
            finished.add_metric([], run.end_time)
            success.add_metric([], 1.0 if run.success else 0.0)
        yield from (duration, finished, success)
        yield from _webhook_families(reading.webhooks, now)

        heartbeat = GaugeMetricFamily(
            "dagster_daemon_heartbeat_age_seconds",
            "Seconds since each required Dagster daemon type's newest heartbeat (the daemon "
            "beats every 30 s); +Inf: that type has no heartbeat.",
            labels=["daemon_type"],
        )
        if reading.heartbeats is not None:
            for daemon, age in reading.heartbeats.ages(now).items():
                heartbeat.add_metric([daemon], age)
        yield heartbeat

        errors = GaugeMetricFamily(
            "app_metrics_source_up",
            "1 if the source of the freshness gauges answered at the last read, else 0.",
            labels=["source"],
        )
        if reading.tenants is not None or reading.errors or reading.dbt_read:
            errors.add_metric(["warehouse"], 0.0 if "warehouse" in reading.errors else 1.0)
            errors.add_metric(
                ["dagster_instance"], 0.0 if "dagster_instance" in reading.errors else 1.0
            )
        yield errors


def _webhook_families(
    webhooks: tuple[WebhookDelays, WebhookFacts] | None, now: float
) -> Iterable[Metric]:
    jobs = CounterMetricFamily(
        "airbyte_webhook_jobs",
        "Airbyte jobs whose job-completion webhook reached the API, by job status "
        "(app.airbyte_jobs.webhook_received_at).",
        labels=["job_status"],
    )
    delay = HistogramMetricFamily(
        "airbyte_webhook_delay_seconds",
        "Delay from an Airbyte job's end to its webhook reaching the API.",
    )
    last = GaugeMetricFamily(
        "airbyte_webhook_last_received_timestamp_seconds",
        "When the newest Airbyte webhook reached the API (Unix time).",
    )
    silence = GaugeMetricFamily(
        "airbyte_webhook_silence_seconds",
        "Seconds since the first Airbyte job that finished after the newest webhook without "
        "one (the webhook-silence alert fires above 1800); 0 when there is none.",
    )
    if webhooks is not None:
        delays, facts = webhooks
        for status, received in delays.received_by_status.items():
            jobs.add_metric([status], received)
        delay.add_metric(
            [],
            [
                (str(le), float(n))
                for le, n in zip(WEBHOOK_DELAY_BUCKETS, delays.buckets, strict=True)
            ]
            + [("+Inf", float(delays.count))],
            delays.total_seconds,
        )
        if facts.last_webhook_at is not None:
            last.add_metric([], facts.last_webhook_at.timestamp())
            first = facts.first_unannounced_finish
            silence.add_metric([], max(0.0, now - first.timestamp()) if first else 0.0)
    yield from (jobs, delay, last, silence)


def build_registry(
    engine: Callable[[], Engine],
    instance: Callable[[], DagsterInstance],
    cache_seconds: float,
    tenant_labels: str = "plain",
) -> tuple[CollectorRegistry, RequestMetrics, FreshnessCollector]:
    registry = CollectorRegistry(auto_describe=False)
    request_metrics = RequestMetrics(registry)
    freshness = FreshnessCollector(engine, instance, cache_seconds, tenant_labels=tenant_labels)
    registry.register(freshness)
    return registry, request_metrics, freshness
