"""``adinsights demo``: the whole product on demo tenants, fed by the Meta Graph API and Airbyte
simulators."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, redirect_stdout
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING

import requests
import uvicorn

from adinsights_pipelines.bootstrap import Runtime, bootstrap
from adinsights_pipelines.errors import AdinsightsError, ConfigError
from adinsights_pipelines.ports import free_port
from adinsights_pipelines.processes import stop_processes
from adinsights_pipelines.settings import PROJECT_ROOT

if TYPE_CHECKING:
    from adinsights_pipelines.services.credentials import TokenCheck
    from adinsights_pipelines.simulators.airbyte import AirbyteSimState

Progress = Callable[[str], None]
QUIET_CONSOLE = {"loggers": {"console": {"config": {"log_level": "ERROR"}}}}

# Simulator tokens: any "sim_" token is valid there, and its data derives from the token.
DEMO_TENANTS = (
    ("acme-jamaica", "Acme Jamaica Ltd", "sim_demo_acme_jamaica"),
    ("blue-mountain-coffee", "Blue Mountain Coffee Co", "sim_demo_blue_mountain"),
)

#: Each demo tenant's Google refresh token, GA4 property and Search Console site (simulator).
DEMO_WEB_ANALYTICS = {
    "acme-jamaica": ("sim_demo_google_acme", "310000001", "https://www.acme-jamaica.com/"),
    "blue-mountain-coffee": (
        "sim_demo_google_blue_mountain",
        "310000002",
        "sc-domain:bluemountaincoffee.jm",
    ),
}


#: Each demo tenant's reporting currency: acme-jamaica reports in JMD (its Google Ads account
#: bills in JMD, one of its Meta accounts in USD: converted at each day's rate); blue-mountain-
#: coffee reports in USD.
DEMO_REPORTING_CURRENCIES = {"acme-jamaica": "JMD", "blue-mountain-coffee": "USD"}

#: Each demo tenant's Google Ads account, synced through the Airbyte simulator.
DEMO_GOOGLE_ADS = {
    "acme-jamaica": ("1234567890", "JMD"),
    "blue-mountain-coffee": ("9876543210", "USD"),
}


@dataclass(frozen=True)
class DemoResult:
    tenant_id: str
    api_key: str
    snapshot: dict[str, object]


def _port_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def check_ports(ports: dict[str, int], host: str = "127.0.0.1") -> None:
    for name, port in ports.items():
        if not _port_free(host, port):
            raise ConfigError(f"port {port} ({name}) is already in use; free it or set {name}")


def seed_demo_tenants(rt: Runtime, progress: Progress) -> None:
    """Demo tenants whose Meta tokens are onboarded as an operator's would be (``adinsights
    tenants add``, ``credentials add``), once: an active tenant and a stored token the syncs can
    use are left as they are, so a second demo writes and audits nothing."""
    from adinsights_pipelines.services.credentials import platform_token_check
    from adinsights_pipelines.services.tenant_onboarding import add_tenant
    from adinsights_pipelines.settings import load_settings
    from adinsights_pipelines.tenant_store import active_tenant_ids
    from adinsights_pipelines.warehouse.database import engine

    eng = engine(rt.db)
    check = platform_token_check("meta", load_settings())
    for tenant_id, name, token in DEMO_TENANTS:
        with eng.begin() as conn:
            if tenant_id not in active_tenant_ids(conn):
                add_tenant(
                    conn, tenant_id, name, DEMO_REPORTING_CURRENCIES[tenant_id], actor="demo"
                )
        _store_credential_once(rt, tenant_id, "meta", token, check)
    progress(f"demo tenants: {', '.join(t[0] for t in DEMO_TENANTS)}")


def _store_credential_once(
    rt: Runtime, tenant_id: str, platform: str, token: str, check: TokenCheck
) -> None:
    """``adinsights credentials add`` for the tenant's ``platform``, unless a token the syncs can
    use (not invalid, nor awaiting re-authorisation) is stored."""
    from adinsights_pipelines.services.credentials import store_credential
    from adinsights_pipelines.tenant_store import get_credential
    from adinsights_pipelines.warehouse.database import engine

    eng = engine(rt.db)
    with eng.connect() as conn:
        stored = get_credential(conn, rt.keyring, tenant_id, platform)
    if stored is None or stored.token_status in ("invalid", "reauth_required"):
        store_credential(eng, rt.keyring, tenant_id, platform, token, check=check, actor="demo")


def seed_demo_airbyte(rt: Runtime, airbyte: AirbyteSimState, progress: Progress) -> None:
    """A Google Ads connection per demo tenant in the simulator, registered as an operator would
    (``adinsights airbyte connections add``) unless it is already, active, for the tenant."""
    from adinsights_pipelines.defs.airbyte.store import get_connection, normalize_connection_id
    from adinsights_pipelines.services.airbyte_connections import add_airbyte_connection
    from adinsights_pipelines.warehouse.database import engine

    with engine(rt.db).begin() as conn:
        for tenant_id, (customer_id, currency) in DEMO_GOOGLE_ADS.items():
            connection = airbyte.add_connection(
                customer_id, currency=currency, database_url=rt.db.plain_url
            )
            registered = get_connection(conn, normalize_connection_id(connection.connection_id))
            if registered is None or not registered.is_active:
                add_airbyte_connection(
                    conn,
                    tenant_id,
                    "google_ads",
                    connection.connection_id,
                    customer_id,
                    actor="demo",
                )
    progress(f"Google Ads via Airbyte: {len(DEMO_GOOGLE_ADS)} connections")


def seed_demo_web_analytics(rt: Runtime, progress: Progress) -> None:
    """A GA4 property and a Search Console site per demo tenant, with checked Google tokens, as an
    operator registers them (``adinsights credentials add``, ``web-analytics add``); what is
    registered already is left as it is."""
    from adinsights_pipelines.defs.google.sources import active_sources, normalise_identifier
    from adinsights_pipelines.services.credentials import platform_token_check
    from adinsights_pipelines.services.web_analytics_sources import add_web_analytics_source
    from adinsights_pipelines.settings import load_settings
    from adinsights_pipelines.warehouse.database import engine

    settings = load_settings()
    for tenant_id, (token, property_id, site_url) in DEMO_WEB_ANALYTICS.items():
        for provider, identifier in (("ga4", property_id), ("search_console", site_url)):
            check = platform_token_check(provider, settings)
            _store_credential_once(rt, tenant_id, provider, token, check)
            with engine(rt.db).begin() as conn:
                registered = {s.identifier for s in active_sources(conn, tenant_id, provider)}
                if normalise_identifier(provider, identifier) not in registered:
                    add_web_analytics_source(conn, tenant_id, provider, identifier, actor="demo")
    progress("demo GA4 properties and Search Console sites registered")


def materialize_all(rt: Runtime, progress: Progress) -> None:
    """Ingestion per tenant -> dbt -> snapshot per tenant, recorded in the Dagster instance."""
    from adinsights_pipelines.definitions import defs
    from adinsights_pipelines.defs.resources import WarehouseResource
    from adinsights_pipelines.defs.tenants.sensors import sync_tenant_partitions
    from adinsights_pipelines.instance import get_instance

    instance = get_instance()
    log_path = rt.settings.data_dir / "logs" / "demo-materialize.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    progress(f"run logs: Dagster UI, and {log_path}")
    sync_tenant_partitions(instance, WarehouseResource(database_url=rt.db.plain_url))
    tenant_ids = [t[0] for t in DEMO_TENANTS]
    steps: list[tuple[str, str | None]] = [("meta_sync", t) for t in tenant_ids]
    steps += [("airbyte_sync", t) for t in tenant_ids]
    steps += [("web_analytics_sync", t) for t in DEMO_WEB_ANALYTICS]
    # every day of the tenants' data, from the exchange-rate simulator
    steps += [("fx_rates_refresh", None)]
    steps += [("dbt_build", None)] + [("metrics_snapshots", t) for t in tenant_ids]
    for number, (job_name, partition) in enumerate(steps, 1):
        started = time.monotonic()
        label = f"{job_name}" + (f" [{partition}]" if partition else "")
        progress(f"materializing {number}/{len(steps)}: {label}")
        # The runs' event logs live in the instance (and the UI); the terminal shows progress
        # only, and dbt's console output goes to the log file.
        with log_path.open("a") as log, redirect_stdout(log):
            result = defs.resolve_job_def(job_name).execute_in_process(
                instance=instance,
                partition_key=partition,
                raise_on_error=False,
                tags={"tenant_id": partition} if partition else None,
                run_config=QUIET_CONSOLE,
            )
        if not result.success:
            failure = next(
                (e.message for e in result.all_events if e.is_failure), "see the run in Dagster"
            )
            raise AdinsightsError(f"{label} failed (run {result.run_id}): {failure}")
        progress(f"  done in {time.monotonic() - started:.1f}s (run {result.run_id[:8]})")


def create_demo_key(rt: Runtime, tenant_id: str) -> str:
    from adinsights_pipelines.api_keys import create_api_key
    from adinsights_pipelines.warehouse.database import engine

    with engine(rt.db).begin() as conn:
        return create_api_key(conn, tenant_id=tenant_id, label="demo", actor="demo")


@contextmanager
def serve_in_thread(app: object, host: str, port: int) -> Iterator[str]:
    config = uvicorn.Config(
        app,  # type: ignore[arg-type]
        host=host,
        port=port,
        log_level="warning",
        proxy_headers=False,  # see cli.serve_api
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise AdinsightsError(f"could not serve on {host}:{port}")
        time.sleep(0.05)
    try:
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def _spawn(args: list[str], log_path: Path) -> subprocess.Popen[bytes]:
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log = log_path.open("ab")
    return subprocess.Popen(  # noqa: S603 - our own executables, no shell
        args, cwd=PROJECT_ROOT, stdout=log, stderr=subprocess.STDOUT, env=os.environ.copy()
    )


def _wait_http(url: str, what: str, timeout_s: float, progress: Progress) -> None:
    deadline, last_note = time.monotonic() + timeout_s, 0.0
    while time.monotonic() < deadline:
        try:
            if requests.get(url, timeout=2).status_code < 500:
                return
        except requests.RequestException:
            pass
        if time.monotonic() - last_note > 10:
            progress(f"  waiting for {what}…")
            last_note = time.monotonic()
        time.sleep(0.5)
    raise AdinsightsError(f"{what} did not answer at {url} within {timeout_s:.0f}s")


def run_demo(*, once: bool, progress: Progress) -> DemoResult:
    from adinsights_pipelines.code_location import asset_graph
    from adinsights_pipelines.defs.dbt.project import prepare_manifest
    from adinsights_pipelines.settings import load_settings
    from adinsights_pipelines.simulators.airbyte import AirbyteSimState, AirbyteSimulator
    from adinsights_pipelines.simulators.fx_rates import FxRatesSimulator
    from adinsights_pipelines.simulators.fx_rates import environment as fx_environment
    from adinsights_pipelines.simulators.google import GoogleSimulator
    from adinsights_pipelines.simulators.google import environment as google_environment
    from adinsights_pipelines.simulators.meta_graph import MetaSimulator
    from api.app import create_app

    settings = load_settings()
    ports = (
        {}
        if once
        else {
            "ADINSIGHTS_API_PORT": settings.api_port,
            "ADINSIGHTS_DAGSTER_PORT": settings.dagster_port,
            "ADINSIGHTS_META_SIM_PORT": settings.meta_sim_port,
            "ADINSIGHTS_AIRBYTE_SIM_PORT": settings.airbyte_sim_port,
            "ADINSIGHTS_GOOGLE_SIM_PORT": settings.google_sim_port,
            "ADINSIGHTS_FX_SIM_PORT": settings.fx_sim_port,
        }
    )
    check_ports(ports, settings.api_host)
    rt = bootstrap(progress)
    progress("preparing the dbt manifest")
    prepare_manifest(force=True)

    sim_port = 0 if once else settings.meta_sim_port
    airbyte_state = AirbyteSimState(database_url=rt.db.plain_url)
    airbyte_state.configure(job_duration_s=0.3)
    airbyte_port = 0 if once else settings.airbyte_sim_port
    google_port = 0 if once else settings.google_sim_port
    fx_port = 0 if once else settings.fx_sim_port
    with (
        MetaSimulator(port=sim_port) as sim,
        AirbyteSimulator(airbyte_state, port=airbyte_port) as airbyte,
        GoogleSimulator(port=google_port) as google_sim,
        FxRatesSimulator(port=fx_port) as fx_sim,
    ):
        os.environ.update(fx_environment(fx_sim.url))
        os.environ["ADINSIGHTS_META_GRAPH_URL"] = sim.url
        os.environ["ADINSIGHTS_AIRBYTE_URL"] = airbyte.url
        os.environ["ADINSIGHTS_AIRBYTE_WORKSPACE_ID"] = airbyte_state.workspace_id
        # The simulator's jobs take a fraction of a second; poll accordingly.
        os.environ["ADINSIGHTS_AIRBYTE_POLL_INTERVAL_SECONDS"] = "0.1"
        # The simulator accepts any app; a real app's id and secret are never needed here.
        os.environ.setdefault("ADINSIGHTS_META_APP_ID", "adinsights-demo-app")
        os.environ.setdefault("ADINSIGHTS_META_APP_SECRET", "simulator-only-app-secret")
        # The simulator finishes report runs in two polls; no need to wait seconds between.
        os.environ.setdefault("ADINSIGHTS_META_REPORT_POLL_SECONDS", "0.1")
        os.environ.update(google_environment(google_sim.url))
        # The Google simulator accepts any OAuth client as well.
        os.environ.setdefault("ADINSIGHTS_GOOGLE_CLIENT_ID", "adinsights-demo.apps.example")
        os.environ.setdefault("ADINSIGHTS_GOOGLE_CLIENT_SECRET", "simulator-only-client-secret")
        progress(
            f"simulators: Meta Graph API {sim.url}, Airbyte {airbyte.url}, Google "
            f"{google_sim.url}, exchange rates {fx_sim.url}"
        )
        seed_demo_tenants(rt, progress)
        seed_demo_airbyte(rt, airbyte_state, progress)
        seed_demo_web_analytics(rt, progress)
        materialize_all(rt, progress)
        tenant_id = DEMO_TENANTS[0][0]
        key = create_demo_key(rt, tenant_id)

        if once:
            app = create_app(rt.db, asset_graph=asset_graph)
            with serve_in_thread(app, "127.0.0.1", free_port()) as api_url:
                answer = requests.get(
                    f"{api_url}/api/metrics/combined/?source=warehouse",
                    headers={"Authorization": f"Bearer {key}"},
                    timeout=30,
                )
                web = requests.get(
                    f"{api_url}/api/analytics/web/ga4/?limit=500",
                    headers={"Authorization": f"Bearer {key}"},
                    timeout=30,
                )
            if answer.status_code != 200 or web.status_code != 200:
                failed = answer if answer.status_code != 200 else web
                raise AdinsightsError(f"API check failed: HTTP {failed.status_code}")
            snapshot = answer.json()
            payload = snapshot["payload"]
            total = payload.get("total_reporting") or {}
            progress(
                f"API check: /api/metrics/combined/ -> {total.get('currency')} "
                f"{Decimal(total.get('spend') or 0):,.2f} spend in all, from "
                + ", ".join(
                    f"{t['currency']} {Decimal(t['spend']):,.2f} (= {t['reporting_currency']} "
                    f"{Decimal(t['spend_reporting'] or 0):,.2f})"
                    for t in payload.get("totals", [])
                )
                + f" at {', '.join(payload['fx']['sources'])} rates {payload['fx']['rates_from']}"
                f" .. {payload['fx']['rates_to']}; snapshot_generated_at "
                f"{snapshot['snapshot_generated_at']}"
            )
            sessions = sum(int(r["sessions"]) for r in web.json()["results"])
            progress(f"API check: /api/analytics/web/ga4/ -> {sessions:,} sessions (first page)")
            progress("demo complete")
            return DemoResult(tenant_id, key, snapshot)

        return _serve(rt, key, progress)


@dataclass
class Child:
    """A process the demo keeps running."""

    name: str
    args: list[str]
    log_path: Path
    process: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    restarts: int = 0
    quick_failures: int = 0
    not_before: float = 0.0


class Supervisor:
    """Starts the demo's children and keeps them running: every ``interval`` seconds a child
    that exited (killed, crashed) is reported on the terminal and started again. A child that
    keeps dying within ``QUICK_EXIT`` seconds is restarted with a growing delay (up to a
    minute), so a broken one does not spin."""

    QUICK_EXIT = 10.0
    MAX_DELAY = 60.0

    def __init__(self, children: list[Child], notify: Progress, interval: float = 2.0) -> None:
        self.children = children
        self.notify = notify
        self.interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _start(self, child: Child) -> None:
        child.process = _spawn(child.args, child.log_path)
        child.started_at = time.monotonic()

    def start(self) -> None:
        for child in self.children:
            self._start(child)
        self._thread = threading.Thread(target=self._watch, name="demo-supervisor", daemon=True)
        self._thread.start()

    def check(self) -> list[str]:
        """Restart every child that exited; the names of those restarted."""
        restarted = []
        now = time.monotonic()
        for child in self.children:
            if self._stop.is_set():  # stopping: what exits now was ended by stop()
                break
            if child.process is None or child.process.poll() is None or now < child.not_before:
                continue
            code = child.process.returncode
            if child.not_before == 0.0:  # first notice of this exit
                ran = now - child.started_at
                child.quick_failures = child.quick_failures + 1 if ran < self.QUICK_EXIT else 0
                delay = min(2.0**child.quick_failures - 1, self.MAX_DELAY)
                self.notify(
                    f"{child.name} exited (code {code}); restarting it"
                    + (f" in {delay:.0f}s" if delay >= 1 else "")
                    + f" (log: {child.log_path})"
                )
                if delay >= 1:
                    child.not_before = now + delay
                    continue
            child.not_before = 0.0
            self._start(child)
            child.restarts += 1
            restarted.append(child.name)
            self.notify(f"{child.name} restarted (pid {child.process.pid})")
        return restarted

    def _watch(self) -> None:
        while not self._stop.wait(self.interval):
            self.check()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.interval + 5)
        stop_processes((c.process for c in self.children if c.process is not None), timeout=20)


def _serve(rt: Runtime, key: str, progress: Progress) -> DemoResult:
    from adinsights_pipelines.code_location import asset_graph
    from api.app import create_app

    settings, bin_dir = rt.settings, Path(sys.executable).parent
    logs = settings.data_dir / "logs"
    workspace = str(PROJECT_ROOT / "workspace.yaml")
    supervisor = Supervisor(
        [
            Child(
                "dagster-webserver",
                [
                    str(bin_dir / "dagster-webserver"),
                    "-w",
                    workspace,
                    "-h",
                    "127.0.0.1",
                    "-p",
                    str(settings.dagster_port),
                ],
                logs / "dagster-webserver.log",
            ),
            Child(
                "dagster-daemon",
                [str(bin_dir / "dagster-daemon"), "run", "-w", workspace],
                logs / "dagster-daemon.log",
            ),
        ],
        notify=progress,
    )
    supervisor.start()
    try:
        progress(f"starting the Dagster webserver and daemon (logs in {logs})")
        dagster_url = f"http://127.0.0.1:{settings.dagster_port}"
        _wait_http(f"{dagster_url}/server_info", "the Dagster webserver", 180, progress)
        api_url = f"http://{settings.api_host}:{settings.api_port}"
        server = uvicorn.Server(
            uvicorn.Config(
                create_app(rt.db, asset_graph=asset_graph),
                host=settings.api_host,
                port=settings.api_port,
                log_level="warning",
                proxy_headers=False,
            )
        )
        progress("ready")
        print(
            f"\n  Dagster UI   {dagster_url}\n"
            f"  API          {api_url}/api/health/\n"
            f"  Demo API key {key}\n\n"
            f"  curl -H 'Authorization: Bearer {key}' "
            f"'{api_url}/api/metrics/combined/?source=warehouse'\n"
            f"  (in USD instead of the tenant's JMD: add &currency=USD)\n\n"
            "  A webserver or daemon that dies is reported here and restarted.\n"
            "  Ctrl-C stops everything.\n",
            flush=True,
        )
        server.run()  # returns on Ctrl-C
    finally:
        progress("stopping")
        supervisor.stop()
    return DemoResult(DEMO_TENANTS[0][0], key, {})
