"""Syncs that fail on tokens leave no token or API key in logs, events or tables."""

from pathlib import Path

from dagster import DagsterInstance
from starlette.testclient import TestClient

from adinsights_pipelines.api_keys import create_api_key
from adinsights_pipelines.definitions import defs
from adinsights_pipelines.logs import redact, register_secret
from adinsights_pipelines.tenant_store import add_tenant, set_credential
from adinsights_pipelines.warehouse.database import Database, engine
from api.app import create_app
from tests.test_encryption import dump_database

EXPIRED = "sim_expired_LEAKCHECK_3f9a2b7c1d"
FLAKY = "sim_LEAKCHECK_flaky_8e1f0a9b2c"


def test_token_failures_leave_no_secret_anywhere(
    instance: DagsterInstance, product_env: Database, keyring, meta_sim, caplog, capfd
) -> None:
    caplog.set_level("DEBUG")
    with engine(product_env).begin() as conn:
        for tenant, token in (("expired-co", EXPIRED), ("flaky-co", FLAKY)):
            add_tenant(conn, tenant, tenant)
            set_credential(conn, keyring, tenant, "meta", token)
        api_key = create_api_key(conn, tenant_id="flaky-co")
    instance.add_dynamic_partitions("tenant", ["expired-co", "flaky-co"])
    meta_sim.state.inject("/insights", count=2, http_status=500, code=2)
    meta_sim.state.inject("/adaccounts", count=1, http_status=429, code=17)
    try:
        runs = [
            defs.resolve_job_def("meta_sync").execute_in_process(
                instance=instance, partition_key=tenant, raise_on_error=False
            )
            for tenant in ("expired-co", "flaky-co")
        ]
    finally:
        meta_sim.state.clear_faults()
    assert [r.success for r in runs] == [False, True]

    client = TestClient(create_app(product_env))
    client.get("/api/metrics/combined/", headers={"Authorization": f"Bearer {api_key}"})
    client.get(
        "/api/metrics/combined/?start_date=bad", headers={"Authorization": f"Bearer {api_key}"}
    )

    haystacks = [dump_database(product_env), caplog.text, *capfd.readouterr()]
    for run in runs:
        haystacks += [repr(record) for record in instance.all_logs(run.run_id)]
    dagster_home = Path(instance.root_directory)
    haystacks += [p.read_text(errors="replace") for p in dagster_home.rglob("*") if p.is_file()]
    for secret in (EXPIRED, FLAKY, api_key):
        for text in haystacks:
            assert secret not in text


def test_redaction_masks_known_shapes_and_registered_values() -> None:
    register_secret("s3cr3t-value-42")
    line = (
        "GET /v21.0/me?access_token=EAABwzLixnjYBAabcdefghijklmnopqrstuvwxyz&limit=5 "
        "Authorization: Bearer adi_0a1b2c3d_abcdefghijklmnopqrstuv s3cr3t-value-42"
    )
    cleaned = redact(line)
    assert "EAABwz" not in cleaned and "adi_0a1b2c3d" not in cleaned
    assert "s3cr3t-value-42" not in cleaned
    assert "access_token=***" in cleaned and "limit=5" in cleaned


def test_json_log_lines_carry_context_and_mask_secrets() -> None:
    import io
    import json
    import logging

    from adinsights_pipelines.logs import json_handler, log_context

    stream = io.StringIO()
    logger = logging.getLogger("adinsights.test.json")
    logger.addHandler(json_handler(stream))
    logger.setLevel(logging.INFO)
    try:
        with log_context(tenant_id="acme", run_id="run-123"):
            logger.info("calling %s", "https://graph/me?access_token=sim_plain_token_value")
        logger.info("outside")
    finally:
        logger.handlers.clear()
    first, second = (json.loads(line) for line in stream.getvalue().splitlines())
    assert first["tenant_id"] == "acme" and first["run_id"] == "run-123"
    assert first["level"] == "INFO" and first["logger"] == "adinsights.test.json"
    assert "sim_plain_token_value" not in first["message"]
    assert "tenant_id" not in second
