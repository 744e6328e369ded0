"""The Airbyte simulator as dagster-airbyte's own client sees it (fidelity), plus its knobs."""

import json
import threading
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
import requests
import sqlalchemy as sa
from dagster import Failure
from dagster_airbyte import AirbyteWorkspace

from adinsights_pipelines.simulators.airbyte import (
    PARISH_TARGETS,
    UNKNOWN_TARGET,
    AirbyteSimState,
    AirbyteSimulator,
)
from tests.airbyte.conftest import World
from tests.sql import query


@pytest.fixture(scope="module")
def sim(world: World) -> Iterator[AirbyteSimulator]:
    state = AirbyteSimState(seed=11, database_url=world.db.plain_url)
    with AirbyteSimulator(state) as running:
        running.state.configure(job_duration_s=0.1)
        yield running


def workspace(sim: AirbyteSimulator, **kw: object) -> AirbyteWorkspace:
    return AirbyteWorkspace(
        rest_api_base_url=sim.rest_api_base_url,
        configuration_api_base_url=sim.configuration_api_base_url,
        workspace_id=sim.state.workspace_id,
        poll_interval=0.05,
        request_max_retries=1,
        request_retry_delay=0.01,
        **kw,
    )


def test_workspace_connections_paging_details_and_destinations(sim: AirbyteSimulator) -> None:
    customers = ("1111111111", "2222222222", "3333333333")
    for customer in customers:
        sim.state.add_connection(customer)
    data = workspace(sim, max_items_per_page=2).fetch_airbyte_workspace_data()

    assert len(data.connections_by_id) == len(sim.state.connections) >= 3
    ((destination_id, destination),) = data.destinations_by_id.items()
    assert (destination.type, destination.schema) == ("postgres", "raw")
    assert destination.database == sa.engine.make_url(sim.state.database_url).database
    connection = next(iter(data.connections_by_id.values()))
    assert connection.destination_id == destination_id and connection.stream_prefix == "google_ads_"
    assert list(connection.streams) == ["campaign_performance"]
    # two requests for three connections: the client followed the `next` link
    assert sim.state.request_count("/api/public/v1/connections", "GET") >= 2


def test_asset_specs_name_the_raw_table_and_its_columns(sim: AirbyteSimulator) -> None:
    sim.state.add_connection("1111111111")
    specs = workspace(sim).load_asset_specs()
    assert {s.key.to_user_string() for s in specs} == {"google_ads_campaign_performance"}
    columns = {c.name for c in specs[0].metadata["dagster/column_schema"].columns}
    assert {"customer.id", "segments.date", "metrics.cost_micros"} <= columns


def test_dagsters_sync_and_poll_runs_a_job_that_lands_rows(
    sim: AirbyteSimulator, world: World
) -> None:
    connection = sim.state.add_connection("4444444444", currency="USD")
    client = workspace(sim).get_client()
    output = client.sync_and_poll(connection.connection_id)

    job = output.job_details
    assert job["status"] == "succeeded" and job["jobType"] == "sync"
    assert job["connectionId"] == connection.connection_id
    assert job["duration"].startswith("PT") and job["startTime"].endswith("Z")
    assert job["rowsSynced"] > 0 and job["bytesSynced"] > 0
    landed = query(
        world.db,
        "select count(*), min(customer_currency_code), bool_and(metrics_clicks <= "
        "metrics_impressions), bool_and(metrics_cost_micros % 10000 = 0), "
        "count(*) filter (where segments_geo_target_region is null) "
        "from raw.google_ads_campaign_performance where customer_id = '4444444444'",
    )[0]
    assert landed[0] == job["rowsSynced"] and landed[1] == "USD"
    assert landed[2] and landed[3]
    listed = client.get_jobs_for_connection(connection.connection_id)
    assert [(j.id, j.status, j.rows_synced) for j in listed] == [
        (job["jobId"], "succeeded", job["rowsSynced"])
    ]


def test_a_second_job_while_one_runs_is_a_409_state_conflict(sim: AirbyteSimulator) -> None:
    connection = sim.state.add_connection("5555555555")
    sim.state.configure(job_duration_s=5)
    try:
        client = workspace(sim).get_client()
        first = client.start_sync_job(connection.connection_id)
        assert first["status"] in ("pending", "running")
        answer = requests.post(
            f"{sim.rest_api_base_url}/jobs",
            json={"connectionId": connection.connection_id, "jobType": "sync"},
            timeout=5,
        )
        assert answer.status_code == 409
        assert answer.headers["content-type"].startswith("application/problem+json")
        assert (
            answer.json()["detail"] == f"A sync is already running for: {connection.connection_id}"
        )
        with pytest.raises(Failure):
            client.start_sync_job(connection.connection_id)

        cancelled = client.cancel_job(first["jobId"])  # DELETE answers the job, as JSON
        assert cancelled["status"] == "cancelled"
        assert client.get_job_details(first["jobId"])["status"] == "cancelled"
    finally:
        sim.state.configure(job_duration_s=0.1)


def test_failed_job_reason_is_in_the_configuration_api(sim: AirbyteSimulator) -> None:
    connection = sim.state.add_connection("6666666666")
    sim.state.configure(fail_next_jobs=1, failure_reason="Customer not enabled")
    client = workspace(sim).get_client()
    with pytest.raises(Failure, match="Job failed"):
        client.sync_and_poll(connection.connection_id)
    job = sim.state.list_jobs(connection_id=connection.connection_id)[0]
    public = requests.get(f"{sim.rest_api_base_url}/jobs/{job.job_id}", timeout=5).json()
    assert public["status"] == "failed"
    info = requests.post(
        f"{sim.configuration_api_base_url}/jobs/get", json={"id": job.job_id}, timeout=5
    ).json()
    failure = info["attempts"][0]["attempt"]["failureSummary"]["failures"][0]
    assert failure["externalMessage"] == "Customer not enabled"
    assert info["job"]["status"] == "failed" and info["job"]["configId"] == connection.connection_id


def test_unknown_ids_are_404_problems(sim: AirbyteSimulator) -> None:
    for path in ("/workspaces/nope", "/jobs/999999", "/destinations/nope", "/connections/nope"):
        answer = requests.get(sim.rest_api_base_url + path, timeout=5)
        assert answer.status_code == 404, path
        assert answer.json()["title"] == "resource-not-found"
    with pytest.raises(Failure):
        AirbyteWorkspace(
            rest_api_base_url=sim.rest_api_base_url,
            configuration_api_base_url=sim.configuration_api_base_url,
            workspace_id="not-the-workspace",
            request_max_retries=0,
        ).get_client().validate_workspace_id()


def test_application_credentials_are_required_when_configured(world: World) -> None:
    state = AirbyteSimState(seed=3, client_id="app-id", client_secret="app-secret-value")
    with AirbyteSimulator(state) as secured:
        assert (
            requests.get(secured.rest_api_base_url + "/connections", timeout=5).status_code == 401
        )
        wrong = requests.post(
            secured.rest_api_base_url + "/applications/token",
            json={"client_id": "app-id", "client_secret": "nope"},
            timeout=5,
        )
        assert wrong.status_code == 401
        state.add_connection("7777777777")
        client = workspace(
            secured, client_id="app-id", client_secret="app-secret-value"
        ).get_client()
        assert len(client.get_connections()) == 1
        tokens = [r.status for r in state.requests if r.path.endswith("/applications/token")]
        assert tokens == [401, 200]  # the wrong secret, then the client's one token


def test_server_error_knob_answers_5xx_then_recovers(sim: AirbyteSimulator) -> None:
    sim.state.inject("/connections", count=2, http_status=502)
    assert requests.get(sim.rest_api_base_url + "/connections", timeout=5).status_code == 502
    assert len(workspace(sim).get_client().get_connections()) >= 1  # the client retried
    assert sim.state.faults == []


def test_down_refuses_connections_and_up_keeps_the_state(sim: AirbyteSimulator) -> None:
    connection = sim.state.add_connection("8888888888")
    url = sim.rest_api_base_url
    sim.down()
    try:
        with pytest.raises(requests.ConnectionError):
            requests.get(url + "/connections", timeout=2)
    finally:
        sim.up()
    assert sim.rest_api_base_url == url
    assert requests.get(url + f"/connections/{connection.connection_id}", timeout=5).ok


def test_records_are_deterministic_from_the_seed_and_use_known_regions() -> None:
    day = date(2025, 3, 4)

    def sample(seed: int) -> list[dict[str, object]]:
        state = AirbyteSimState(seed=seed)
        connection = state.add_connection("1234567890", currency="JMD")
        return list(state.records(connection, day, day, datetime(2025, 3, 9, tzinfo=UTC)))

    first, again, other = sample(5), sample(5), sample(6)
    assert first == again and first != other
    known = {f"geoTargetConstants/{t}" for t, _ in PARISH_TARGETS}
    regions = {r["segments.geo_target_region"] for r in sample(5) + sample(6) + sample(8)}
    assert regions <= known | {None, f"geoTargetConstants/{UNKNOWN_TARGET}"}
    assert len(regions & known) > 10


class _Collector(BaseHTTPRequestHandler):
    received: list[tuple[dict[str, str], bytes]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).received.append((dict(self.headers), body))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def test_job_completion_is_posted_to_the_webhook_with_the_secret(sim: AirbyteSimulator) -> None:
    server = HTTPServer(("127.0.0.1", 0), _Collector)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        sim.state.configure(
            webhook_url=f"http://127.0.0.1:{server.server_port}/hook", webhook_secret="s3cret-x"
        )
        connection = sim.state.add_connection("9999999999")
        job = sim.state.start_job(connection.connection_id)
        deadline = time.monotonic() + 5
        while not sim.state.webhook_deliveries and time.monotonic() < deadline:
            time.sleep(0.02)
        assert sim.state.webhook_deliveries == [{"job_id": job.job_id, "status": 200}]
        headers, body = _Collector.received[-1]
        assert headers["X-Airbyte-Webhook-Secret"] == "s3cret-x"
        data = json.loads(body)["data"]
        assert data["connection"]["id"] == connection.connection_id
        assert data["jobId"] == job.job_id and data["success"] is True
        assert data["recordsCommitted"] == sim.state.job(job.job_id).rows > 0
    finally:
        sim.state.configure(webhook_url=None, webhook_secret=None)
        server.shutdown()
