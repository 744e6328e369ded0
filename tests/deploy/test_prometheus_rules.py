"""The Prometheus alerting rules in deploy/prometheus/ are valid and behave as their unit tests
say (``promtool test rules``: one firing and one quiet case per rule).

promtool comes from Debian's ``prometheus`` package; ``.ci/run`` installs it when missing. A
missing promtool fails this test (it is never skipped).
"""

from __future__ import annotations

import shutil
import subprocess

import yaml

from adinsights_pipelines.settings import PROJECT_ROOT

RULES = PROJECT_ROOT / "deploy" / "prometheus" / "alert-rules.yml"
RULE_TESTS = PROJECT_ROOT / "deploy" / "prometheus" / "alert-rules.test.yml"


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("promtool")
    assert binary, "promtool is missing: apt-get install prometheus (.ci/run does it)"
    return subprocess.run(
        [binary, *args], cwd=RULES.parent, capture_output=True, text=True, timeout=120
    )


def test_rules_are_valid() -> None:
    checked = promtool("check", "rules", RULES.name)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS: 9 rules found" in checked.stdout


def test_rule_unit_tests_pass() -> None:
    tested = promtool("test", "rules", RULE_TESTS.name)
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "SUCCESS" in tested.stdout


def test_every_rule_has_a_firing_and_a_quiet_case() -> None:
    rules = [r["alert"] for g in yaml.safe_load(RULES.read_text())["groups"] for r in g["rules"]]
    cases = [
        case
        for test in yaml.safe_load(RULE_TESTS.read_text())["tests"]
        for case in test["alert_rule_test"]
    ]
    for alert in rules:
        mine = [c for c in cases if c["alertname"] == alert]
        assert any(c["exp_alerts"] for c in mine), f"{alert}: no firing case"
        assert any(not c["exp_alerts"] for c in mine), f"{alert}: no quiet case"
