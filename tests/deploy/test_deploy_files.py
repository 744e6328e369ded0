"""deploy/: what can be checked here without Docker or a cluster — the files parse, refer to
things that exist (commands, files, the code location), and the compose and Helm settings
agree with deploy/dagster.yaml."""

import re
import shutil
import sys
import tomllib
from pathlib import Path
from typing import Any

import yaml
from click.testing import CliRunner

from adinsights_pipelines.cli.main import cli
from adinsights_pipelines.settings import PROJECT_ROOT

DEPLOY = PROJECT_ROOT / "deploy"
BIN = Path(sys.executable).parent


def load(name: str) -> Any:
    return yaml.safe_load((DEPLOY / name).read_text())


def app_env(service: dict[str, Any]) -> dict[str, str]:
    return {str(k): str(v) for k, v in (service.get("environment") or {}).items()}


def test_compose_services_use_commands_that_exist() -> None:
    compose = load("docker-compose.yaml")
    services = compose["services"]
    assert {"postgres", "migrate", "code", "webserver", "daemon", "api"} <= set(services)
    for name, service in services.items():
        for needed in service.get("depends_on") or {}:
            assert needed in services, f"{name} depends on unknown service {needed}"
        command = service.get("command")
        if not command:
            continue
        assert shutil.which(command[0], path=str(BIN)), f"{name}: no {command[0]} installed"
        if command[0] == "adinsights":  # a real subcommand of ours
            result = CliRunner().invoke(cli, [*command[1:], "--help"])
            assert result.exit_code == 0, result.output


def test_compose_gives_the_instance_every_variable_deploy_dagster_yaml_reads() -> None:
    wanted = set(re.findall(r"env: (\w+)", (DEPLOY / "dagster.yaml").read_text()))
    dockerfile_env = set(re.findall(r"(\w+)=", (DEPLOY / "Dockerfile").read_text()))
    for name in ("code", "webserver", "daemon", "api"):
        provided = set(app_env(load("docker-compose.yaml")["services"][name])) | dockerfile_env
        assert wanted <= provided, f"{name} lacks {sorted(wanted - provided)}"


def test_code_location_is_the_same_everywhere() -> None:
    module = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())["tool"]["dagster"][
        "module_name"
    ]
    code = load("docker-compose.yaml")["services"]["code"]["command"]
    (grpc,) = load("workspace.yaml")["load_from"]
    (deployment,) = load("helm/values.yaml")["dagster-user-deployments"]["deployments"]
    args = deployment["dagsterApiGrpcArgs"]
    assert code[code.index("-m") + 1] == module == args[args.index("-m") + 1]
    location = grpc["grpc_server"]["location_name"]
    assert code[code.index("--location-name") + 1] == location
    assert args[args.index("--location-name") + 1] == location
    assert grpc["grpc_server"]["port"] == deployment["port"] == 4000


def test_dockerfile_copies_files_that_exist() -> None:
    for line in (DEPLOY / "Dockerfile").read_text().splitlines():
        if line.startswith("COPY "):
            *sources, _ = line.split()[1:]
            for source in sources:
                assert (PROJECT_ROOT / source).exists(), source


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _snake_keys(value: Any) -> Any:
    if isinstance(value, dict):
        return {_snake(k): _snake_keys(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_snake_keys(v) for v in value]
    return value


def test_helm_values_carry_the_same_queue_monitoring_and_retries_as_deploy_dagster_yaml() -> None:
    instance = load("dagster.yaml")
    daemon = load("helm/values.yaml")["dagsterDaemon"]
    queue = daemon["runCoordinator"]["config"]["queuedRunCoordinator"]
    # Tag limits are the same structure in both (applyLimitPerUniqueValue included).
    limits = instance["run_coordinator"]["config"]["tag_concurrency_limits"]
    assert queue["tagConcurrencyLimits"] == limits
    assert _snake_keys(daemon["runRetries"]) == instance["run_retries"]
    assert _snake_keys(daemon["runMonitoring"]) == instance["run_monitoring"]
    retention = load("helm/values.yaml")["retention"]
    assert _snake_keys(retention["sensor"]) == instance["retention"]["sensor"]
    assert load("helm/values.yaml")["runLauncher"]["type"] == "K8sRunLauncher"


LIVENESS = ["env", "DAGSTER_DAEMON_HEARTBEAT_TOLERANCE=60", "dagster-daemon", "liveness-check"]


def test_the_daemon_is_probed_on_a_stale_heartbeat_in_compose_and_helm() -> None:
    # The same check and tolerance as /api/health/'s default threshold; that the command
    # really fails on a stale heartbeat is tests/test_daemon_watch.py's.
    from adinsights_pipelines.settings import Settings

    # Dagster's liveness-check allows its 30 s heartbeat interval plus the tolerance.
    tolerance = int(Settings().daemon_heartbeat_stale_seconds) - 30
    assert f"DAGSTER_DAEMON_HEARTBEAT_TOLERANCE={tolerance}" in LIVENESS
    check = load("docker-compose.yaml")["services"]["daemon"]["healthcheck"]
    assert check["test"] == ["CMD", *LIVENESS]
    assert check["retries"] >= 1 and check["start_period"]
    probe = load("helm/values.yaml")["dagsterDaemon"]["livenessProbe"]
    assert probe["exec"]["command"] == LIVENESS
    assert probe["failureThreshold"] * probe["periodSeconds"] <= 120
    assert (BIN / "dagster-daemon").exists()
