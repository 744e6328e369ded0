"""``POST /api/airbyte/webhook/`` per the contract: 403 / 503 / 404 / 400 / accepted."""

import json
import logging
import zlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from dagster import AssetKey, AssetRecordsFilter, DagsterInstance
from starlette.testclient import TestClient

from adinsights_pipelines.instance import prepare_dagster_home
from adinsights_pipelines.settings import Settings
from adinsights_pipelines.simulators.airbyte import AirbyteSimState, SimJob
from adinsights_pipelines.warehouse.database import Database, engine
from api.app import create_app
from tests.conftest import ModuleEnvironment, disposing
from tests.sql import one
from tests.tenants import add_google_ads_tenant

URL = "/api/airbyte/webhook/"
ASSET = AssetKey("google_ads_campaign_performance")
SECRET = "whsec-0123456789abcdef0123456789abcdef"
HEADER = "X-Airbyte-Webhook-Secret"


@pytest.fixture(scope="module")
def env(module_environment: ModuleEnvironment) -> Iterator[tuple[Database, DagsterInstance]]:
    with module_environment("webhook") as (db, _, _):
        prepare_dagster_home(Settings(), db)
        with disposing(DagsterInstance.get()) as instance:
            yield db, instance


@pytest.fixture(scope="module")
def client(env: tuple[Database, DagsterInstance]) -> Iterator[TestClient]:
    with TestClient(create_app(env[0])) as test_client:
        yield test_client


@pytest.fixture
def secret(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.delenv("AIRBYTE_WEBHOOK_SECRET", raising=False)
    monkeypatch.delenv("AIRBYTE_WEBHOOK_SECRET_REQUIRED", raising=False)
    monkeypatch.setenv("ADINSIGHTS_AIRBYTE_WEBHOOK_SECRET", SECRET)
    return SECRET


_airbyte = AirbyteSimState(seed=99)


def register(db: Database, tenant_id: str) -> str:
    """A tenant whose Google Ads connection is known to Airbyte (the simulator) and to us."""
    connection = _airbyte.add_connection(
        str(1_000_000_000 + zlib.crc32(tenant_id.encode()) % 10**9)
    )
    with engine(db).begin() as conn:
        add_google_ads_tenant(
            conn,
            tenant_id,
            tenant_id.title(),
            connection_id=connection.connection_id,
            customer_id=connection.customer_id,
        )
    return connection.connection_id


def notification(connection_id: str, job_id: int, *, success: bool = True) -> dict[str, object]:
    """What Airbyte posts when a job ends (built by the simulator from a finished job)."""
    started = datetime(2025, 6, 2, 14, 0, tzinfo=UTC)
    job = SimJob(
        job_id, connection_id, "sync", started, status="succeeded" if success else "failed"
    )
    job.rows, job.bytes, job.ended_at = (840, 65_536, started + timedelta(seconds=95))
    if not success:
        job.failure = "The Google Ads refresh token was revoked"
    return _airbyte.notification(job)


def post(client: TestClient, body: object, secret: str | None = SECRET) -> object:
    headers = {"Content-Type": "application/json"}
    if secret is not None:
        headers[HEADER] = secret
    raw = body if isinstance(body, str) else json.dumps(body)
    return client.post(URL, content=raw, headers=headers)


def counts(db: Database, tenant_id: str) -> tuple[int, int]:
    with engine(db).connect() as conn:
        return (
            conn.execute(
                sa.text(
                    "select (select count(*) from app.airbyte_jobs where tenant_id = :t), "
                    "(select count(*) from app.audit_log where tenant_id = :t "
                    "and action = 'airbyte_job_webhook')"
                ),
                {"t": tenant_id},
            )
            .one()
            ._tuple()
        )


def materializations(instance: DagsterInstance, tenant_id: str) -> list:
    return list(
        instance.fetch_materializations(
            AssetRecordsFilter(asset_key=ASSET, asset_partitions=[tenant_id]), limit=10
        ).records
    )


def test_accepted_job_is_stored_materialized_audited_and_logged(
    client: TestClient, env, secret: str, caplog: pytest.LogCaptureFixture
) -> None:
    db, instance = env
    connection_id = register(db, "hook-accepted")
    caplog.set_level(logging.INFO, logger="api.airbyte")

    response = post(client, notification(connection_id, 501))

    assert response.status_code == 200
    assert response.json()["tenant_id"] == "hook-accepted"
    assert response.json()["duplicate"] is False
    with engine(db).connect() as conn:
        job = conn.execute(
            sa.text("select * from app.airbyte_jobs where connection_id = :c"),
            {"c": connection_id},
        ).one()
        audit = conn.execute(
            sa.text(
                "select actor, resource_id, metadata from app.audit_log "
                "where tenant_id = 'hook-accepted' and action = 'airbyte_job_webhook'"
            )
        ).one()
    assert (job.job_id, job.status, job.records_synced, job.bytes_synced) == (
        501,
        "succeeded",
        840,
        65_536,
    )
    assert job.duration_seconds == 95 and job.finished_at - job.started_at == timedelta(seconds=95)
    assert (audit.actor, audit.resource_id) == ("airbyte-webhook", connection_id)
    assert audit.metadata["job_id"] == 501 and audit.metadata["records_synced"] == 840

    (record,) = materializations(instance, "hook-accepted")
    metadata = {k: v.value for k, v in record.asset_materialization.metadata.items()}
    assert record.run_id == ""  # runless: reported by the API, not by a run
    assert metadata["job_id"] == 501 and metadata["records_synced"] == 840
    assert metadata["source"] == "airbyte_webhook"

    (line,) = [r for r in caplog.records if r.getMessage() == "Airbyte webhook processed"]
    assert (line.tenant_id, line.connection_id, line.job_id) == (
        "hook-accepted",
        connection_id,
        501,
    )


def test_replaying_a_job_stores_it_once(client: TestClient, env, secret: str) -> None:
    db, instance = env
    connection_id = register(db, "hook-replay")
    body = notification(connection_id, 502)
    assert post(client, body).json()["duplicate"] is False
    again = post(client, body)
    assert again.status_code == 200 and again.json()["duplicate"] is True
    assert counts(db, "hook-replay") == (1, 1)
    assert len(materializations(instance, "hook-replay")) == 1


def test_a_failed_job_is_stored_and_observed_not_materialized(
    client: TestClient, env, secret: str
) -> None:
    db, instance = env
    connection_id = register(db, "hook-failed")
    response = post(client, notification(connection_id, 503, success=False))
    assert response.status_code == 200 and response.json()["status"] == "failed"
    with engine(db).connect() as conn:
        job = conn.execute(
            sa.text("select status, error from app.airbyte_jobs where connection_id = :c"),
            {"c": connection_id},
        ).one()
    assert tuple(job) == ("failed", "The Google Ads refresh token was revoked")
    assert materializations(instance, "hook-failed") == []
    observed = instance.fetch_observations(
        AssetRecordsFilter(asset_key=ASSET, asset_partitions=["hook-failed"]), limit=1
    ).records
    assert observed[0].asset_observation.metadata["job_status"].value == "failed"


@pytest.mark.parametrize("sent", [None, "", "wrong-secret", SECRET + "x"])
def test_missing_or_wrong_secret_is_403_and_touches_nothing(
    client: TestClient, env, secret: str, sent: str | None
) -> None:
    db, instance = env
    connection_id = register(db, "hook-forbidden")
    response = post(client, notification(connection_id, 504), secret=sent)
    assert response.status_code == 403
    assert response.headers["content-type"].startswith("application/problem+json")
    assert counts(db, "hook-forbidden") == (0, 0)
    assert materializations(instance, "hook-forbidden") == []


def test_secret_required_but_unset_is_503_and_logged(
    client: TestClient,
    env,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    db, _ = env
    connection_id = register(db, "hook-unset")
    for name in ("ADINSIGHTS_AIRBYTE_WEBHOOK_SECRET", "AIRBYTE_WEBHOOK_SECRET"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AIRBYTE_WEBHOOK_SECRET_REQUIRED", "1")
    response = post(client, notification(connection_id, 505), secret="anything")
    assert response.status_code == 503
    assert any(
        r.levelno == logging.ERROR
        and r.getMessage() == "Airbyte webhook secret required but not configured"
        for r in caplog.records
    )
    assert counts(db, "hook-unset") == (0, 0)

    monkeypatch.setenv("AIRBYTE_WEBHOOK_SECRET_REQUIRED", "0")  # development: no secret at all
    assert post(client, notification(connection_id, 505), secret=None).status_code == 200


def test_unknown_connection_is_404(client: TestClient, secret: str) -> None:
    unregistered = _airbyte.add_connection("1999999999").connection_id  # Airbyte knows it, we not
    response = post(client, notification(unregistered, 506))
    assert response.status_code == 404
    assert response.json()["detail"] == "connection not found"


@pytest.mark.parametrize(
    "body", ["{not json", "", "[1, 2]", json.dumps({"data": {"jobId": 3, "success": True}})]
)
def test_malformed_json_is_400(client: TestClient, secret: str, body: str) -> None:
    response = post(client, body)
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("application/problem+json")


def test_rotating_the_secret_refuses_the_old_one_at_once(
    client: TestClient, env, secret: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    db, _ = env
    connection_id = register(db, "hook-rotate")
    assert post(client, notification(connection_id, 507)).status_code == 200
    rotated = "whsec-rotated-9876543210fedcba9876543210"
    monkeypatch.setenv("ADINSIGHTS_AIRBYTE_WEBHOOK_SECRET", rotated)
    assert post(client, notification(connection_id, 508), secret=SECRET).status_code == 403
    assert post(client, notification(connection_id, 508), secret=rotated).status_code == 200
    assert counts(db, "hook-rotate") == (2, 2)


# --- hardening (issue 21): the edge, and state that only moves forward ------------------------


def stored_job(db: Database, connection_id: str, job_id: int) -> tuple:
    return tuple(
        one(
            db,
            "select status, error, started_at, finished_at from app.airbyte_jobs "
            "where connection_id = :c and job_id = :j",
            c=connection_id,
            j=job_id,
        )
    )


def audits(db: Database, tenant_id: str, action: str) -> list[dict]:
    with engine(db).connect() as conn:
        return [
            row.metadata
            for row in conn.execute(
                sa.text(
                    "select metadata from app.audit_log where tenant_id = :t and action = :a "
                    "order by id"
                ),
                {"t": tenant_id, "a": action},
            )
        ]


def flat(connection_id: str, job_id: int, status: str, **extra: object) -> dict[str, object]:
    return {"connectionId": connection_id, "jobId": job_id, "status": status, **extra}


def test_a_terminal_replay_changes_nothing_and_reports_nothing(
    client: TestClient, env, secret: str
) -> None:
    db, instance = env
    connection_id = register(db, "hook-final")
    assert post(client, notification(connection_id, 601)).json()["duplicate"] is False
    for _ in range(3):
        again = post(client, notification(connection_id, 601))
        assert again.status_code == 200
        assert (again.json()["duplicate"], again.json()["conflict"]) == (True, False)
    late_running = post(client, flat(connection_id, 601, "running"))
    assert late_running.status_code == 200
    assert (late_running.json()["status"], late_running.json()["duplicate"]) == (
        "succeeded",
        True,
    )
    assert stored_job(db, connection_id, 601)[0] == "succeeded"
    assert counts(db, "hook-final") == (1, 1)
    assert len(materializations(instance, "hook-final")) == 1


def test_running_replays_are_deduplicated(client: TestClient, env, secret: str) -> None:
    db, instance = env
    connection_id = register(db, "hook-running")
    first = post(client, flat(connection_id, 602, "running"))
    assert first.json()["duplicate"] is False
    assert [post(client, flat(connection_id, 602, "running")).json()["duplicate"]] * 2 == [
        True,
        True,
    ]
    assert counts(db, "hook-running") == (1, 1)
    observed = instance.fetch_observations(
        AssetRecordsFilter(asset_key=ASSET, asset_partitions=["hook-running"]), limit=10
    ).records
    assert len(observed) == 1
    # and the job then finishes: that moves forward and is stored
    done = post(client, flat(connection_id, 602, "succeeded"))
    assert (done.json()["status"], done.json()["duplicate"]) == ("succeeded", False)
    assert counts(db, "hook-running") == (1, 2)


def test_a_status_flip_is_audited_as_a_conflict_not_applied(
    client: TestClient, env, secret: str, caplog: pytest.LogCaptureFixture
) -> None:
    db, instance = env
    connection_id = register(db, "hook-flip")
    assert post(client, notification(connection_id, 603)).status_code == 200
    caplog.set_level(logging.INFO, logger="api.airbyte")
    flipped = post(client, notification(connection_id, 603, success=False))
    assert flipped.status_code == 200
    assert flipped.json()["conflict"] is True and flipped.json()["duplicate"] is True
    assert flipped.json()["status"] == "succeeded"  # what stays stored
    post(client, notification(connection_id, 603, success=False))  # the same conflict again
    post(client, notification(connection_id, 603))  # and back: the stored status, a replay
    assert stored_job(db, connection_id, 603)[:2] == ("succeeded", None)
    assert audits(db, "hook-flip", "airbyte_job_webhook_conflict") == [
        {"job_id": 603, "status": "failed", "stored": "succeeded"}
    ]
    assert counts(db, "hook-flip") == (1, 1)
    assert len(materializations(instance, "hook-flip")) == 1
    assert (
        instance.fetch_observations(
            AssetRecordsFilter(asset_key=ASSET, asset_partitions=["hook-flip"]), limit=10
        ).records
        == []
    )
    assert any(
        r.getMessage() == "Airbyte webhook conflict: terminal status not applied"
        for r in caplog.records
    )


def test_a_body_over_the_limit_is_413_and_touches_nothing(
    client: TestClient, env, secret: str
) -> None:
    db, _ = env
    connection_id = register(db, "hook-large")
    body = notification(connection_id, 604)
    body["padding"] = "x" * (2 * 1024 * 1024)  # 2 MiB
    response = post(client, body)
    assert response.status_code == 413
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["type"].endswith("/payload-too-large")
    assert counts(db, "hook-large") == (0, 0)


def test_a_body_over_the_limit_without_content_length_is_413(
    client: TestClient, env, secret: str
) -> None:
    db, _ = env
    connection_id = register(db, "hook-chunked")
    raw = json.dumps({**notification(connection_id, 605), "padding": "y" * (2 * 1024 * 1024)})

    def chunks() -> Iterator[bytes]:  # a generator body is sent chunked, with no length
        for start in range(0, len(raw), 65_536):
            yield raw[start : start + 65_536].encode()

    response = client.post(
        URL,
        content=chunks(),
        headers={"Content-Type": "application/json", HEADER: SECRET},
    )
    assert response.status_code == 413
    assert counts(db, "hook-chunked") == (0, 0)


@pytest.mark.parametrize(
    ("content_type", "tenant"),
    [
        ("text/plain", "hook-text"),
        ("application/x-www-form-urlencoded", "hook-form"),
        ("", "hook-none"),
    ],
)
def test_a_body_that_is_not_json_by_content_type_is_415(
    client: TestClient, env, secret: str, content_type: str, tenant: str
) -> None:
    db, _ = env
    connection_id = register(db, tenant)
    response = client.post(
        URL,
        content=json.dumps(notification(connection_id, 606)),
        headers={"Content-Type": content_type, HEADER: SECRET},
    )
    assert response.status_code == 415
    assert response.json()["type"].endswith("/unsupported-media-type")
    assert counts(db, tenant) == (0, 0)
    charset = client.post(
        URL,
        content=json.dumps(notification(connection_id, 606)),
        headers={"Content-Type": "application/json; charset=utf-8", HEADER: SECRET},
    )
    assert charset.status_code == 200


@pytest.mark.parametrize(
    ("field", "value", "named"),
    [
        ("startedAt", "yesterday at noon", "data.startedAt"),
        ("startedAt", "9999-12-31T23:59:59-05:00", "data.startedAt"),  # year 10000 in UTC
        ("finishedAt", "2999-01-01T00:00:00Z", "data.finishedAt"),  # far in the future
        ("startedAt", "1970-01-01T00:00:00Z", "data.startedAt"),  # before any sync could be
        ("jobId", True, "data.jobId"),
    ],
)
def test_an_unusable_time_is_a_400_naming_the_field_and_nothing_is_stored(
    client: TestClient, env, secret: str, field: str, value: object, named: str
) -> None:
    db, _ = env
    connection_id = register(db, "hook-times")
    assert counts(db, "hook-times") == (0, 0)
    body = notification(connection_id, 607)
    body["data"][field] = value  # type: ignore[index]
    response = post(client, body)
    assert response.status_code == 400
    assert response.json()["detail"].startswith(named + ":")
    assert counts(db, "hook-times") == (0, 0)


def test_an_error_message_with_a_lone_surrogate_is_stored_readably(
    client: TestClient, env, secret: str
) -> None:
    db, _ = env
    connection_id = register(db, "hook-surrogate")
    raw = json.dumps(flat(connection_id, 608, "failed")).replace(
        '"status"', '"errorMessage": "bad \\ud800 token\\u0000!", "status"'
    )
    response = post(client, raw)
    assert response.status_code == 200
    assert stored_job(db, connection_id, 608)[:2] == ("failed", "bad \ufffd token!")
    token = api_key_for(db, "hook-surrogate")
    health = client.get("/api/health/airbyte/", headers={"Authorization": f"Bearer {token}"})
    assert health.json()["connections"][0]["error"] == "bad \ufffd token!"


def test_a_connection_id_with_a_lone_surrogate_is_a_400(client: TestClient, secret: str) -> None:
    raw = '{"connectionId": "\\ud800", "jobId": 1, "status": "failed"}'
    response = post(client, raw)
    assert response.status_code == 400
    assert response.json()["detail"].startswith("connectionId:")


def api_key_for(db: Database, tenant_id: str) -> str:
    from adinsights_pipelines.api_keys import create_api_key

    with engine(db).begin() as conn:
        return create_api_key(conn, tenant_id=tenant_id)


def test_probes_from_the_webhooks_address_do_not_throttle_the_webhook(env, secret: str) -> None:
    db, _ = env
    connection_id = register(db, "hook-budget")
    # An hour's public budget: the 60 probes spend it however slowly a loaded machine makes them
    settings = Settings().model_copy(
        update={"throttle_public": "60/hour", "throttle_webhook": "300/minute"}
    )
    with TestClient(create_app(db, settings)) as own_client:
        probes = [own_client.get("/api/health/").status_code for _ in range(60)]
        assert set(probes) == {200}
        assert own_client.get("/metrics/app/").status_code == 429  # the public budget is spent
        for job_id in (609, 610, 611):
            assert post(own_client, notification(connection_id, job_id)).status_code == 200
    assert counts(db, "hook-budget") == (3, 3)
