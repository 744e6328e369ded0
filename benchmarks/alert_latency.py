"""Freshness detection latency: from the moment a tenant's metrics snapshot turns stale to the
moment its alert reaches Slack, with a real ``dagster-daemon`` at default intervals (the alert
sensor's 60 s minimum interval, the freshness daemon's 30 s).

Runs on a throw-away embedded PostgreSQL (or ADINSIGHTS_BENCH_DATABASE_URL, a database it may
fill), with loopback Slack and SMTP sinks. Each trial adds a tenant whose snapshot crosses the
60-minute warning threshold a few seconds later, at a random point of the sensor's cycle, and
waits for the WARN alert. The last line is ``detect_to_alert_s=<worst trial>``.
"""

from __future__ import annotations

import os
import random
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

TRIALS = int(os.environ.get("ALERT_BENCH_TRIALS", "3"))
STARTUP_TIMEOUT_S = 300
TRIAL_TIMEOUT_S = 180


def main() -> None:
    from _tenants import bench_environment

    workdir = bench_environment("adi-alert-bench-")

    from adinsights_pipelines.bootstrap import bootstrap
    from adinsights_pipelines.defs.dbt.project import prepare_manifest
    from adinsights_pipelines.processes import stop_processes
    from adinsights_pipelines.settings import PROJECT_ROOT
    from adinsights_pipelines.simulators.alert_sinks import SmtpSink, WebhookSink
    from adinsights_pipelines.tenant_store import add_tenant
    from adinsights_pipelines.warehouse.database import engine

    rt = bootstrap()
    prepare_manifest()
    eng = engine(rt.db)

    def stale_in(tenant: str, seconds: float) -> datetime:
        """Add ``tenant`` with a snapshot that reaches 60 minutes of age ``seconds`` from now."""
        stale_at = datetime.now(UTC) + timedelta(seconds=seconds)
        with eng.begin() as conn:
            add_tenant(conn, tenant, tenant)
            conn.execute(
                sa.text(
                    "insert into app.metrics_snapshots (tenant_id, payload, "
                    "snapshot_generated_at) values (:t, '{}', :g)"
                ),
                {"t": tenant, "g": stale_at - timedelta(minutes=60)},
            )
        return stale_at

    def wait_for(sink: WebhookSink, needle: str, timeout: float) -> float:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for post in list(sink.posts):
                if needle in str(post.body.get("text", "")):
                    return post.at
            time.sleep(0.2)
        raise SystemExit(f"no alert containing {needle!r} within {timeout:.0f}s")

    with WebhookSink() as slack, SmtpSink() as smtp:
        os.environ.update(
            {
                "ADINSIGHTS_ALERT_SLACK_WEBHOOK_URL": slack.url,
                "ADINSIGHTS_ALERT_SMTP_HOST": smtp.host,
                "ADINSIGHTS_ALERT_SMTP_PORT": str(smtp.port),
                "ADINSIGHTS_ALERT_SMTP_STARTTLS": "false",
                "ADINSIGHTS_ALERT_EMAIL_TO": "oncall@localhost",
            }
        )
        # A tenant already past the critical threshold: its alert shows the sensor is live.
        stale_in("bench-canary", -3 * 3600)
        log = (workdir / "dagster-daemon.log").open("wb")
        started = time.monotonic()
        daemon = subprocess.Popen(
            [str(Path(sys.executable).parent / "dagster-daemon"), "run", "-w", "workspace.yaml"],
            cwd=PROJECT_ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=os.environ.copy(),
        )
        try:
            wait_for(slack, "for bench-canary", STARTUP_TIMEOUT_S)
            print(f"daemon up, first alert after {time.monotonic() - started:.1f}s")
            latencies = []
            for trial in range(1, TRIALS + 1):
                tenant = f"bench-trial-{trial}"
                stale_at = stale_in(tenant, random.uniform(5, 65))
                received = wait_for(
                    slack, f"metrics snapshot is stale for {tenant}", TRIAL_TIMEOUT_S
                )
                latency = received - stale_at.timestamp()
                latencies.append(latency)
                print(f"trial {trial}: stale -> Slack alert {latency:.1f}s")
            emails = sum("bench-trial" in m.subject for m in smtp.messages)
            print(f"emails for the trials: {emails} (one per trial expected)")
        finally:
            stop_processes([daemon], timeout=30)
    print(
        f"median {statistics.median(latencies):.1f}s, worst {max(latencies):.1f}s over "
        f"{len(latencies)} trials (sensor minimum interval 60 s)"
    )
    print(f"detect_to_alert_s={max(latencies):.1f}")


if __name__ == "__main__":
    main()
