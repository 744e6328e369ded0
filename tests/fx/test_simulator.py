"""The exchange-rate simulator answers as Open Exchange Rates documents its historical endpoint."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime

import pytest
import requests

from adinsights_pipelines.simulators.fx_rates import FxRatesSimulator, FxSimState, rate_for


@pytest.fixture
def sim() -> Iterator[FxRatesSimulator]:
    state = FxSimState(seed=7, clock=lambda: datetime(2026, 11, 20, 12, 0, tzinfo=UTC))
    with FxRatesSimulator(state) as running:
        yield running


def get(sim: FxRatesSimulator, day: str, **params: str) -> requests.Response:
    return requests.get(f"{sim.url}/historical/{day}.json", params=params, timeout=10)


def test_a_day_answers_the_documented_shape_with_deterministic_rates(sim: FxRatesSimulator) -> None:
    answer = get(sim, "2026-11-13", app_id="sim_x", symbols="JMD,EUR")
    assert answer.status_code == 200
    body = answer.json()
    assert set(body) == {"disclaimer", "license", "timestamp", "base", "rates"}
    assert body["base"] == "USD"
    assert body["timestamp"] == int(datetime(2026, 11, 13, 23, 59, 59, tzinfo=UTC).timestamp())
    assert set(body["rates"]) == {"JMD", "EUR"}
    assert str(body["rates"]["JMD"]) == str(rate_for(7, "JMD", date(2026, 11, 13)))
    assert 150 < body["rates"]["JMD"] < 165
    again = get(sim, "2026-11-13", app_id="sim_other", symbols="JMD").json()
    assert again["rates"]["JMD"] == body["rates"]["JMD"]


def test_errors_have_the_documented_envelope(sim: FxRatesSimulator) -> None:
    missing = get(sim, "2026-11-13")
    assert missing.status_code == 401
    assert missing.json()["message"] == "missing_app_id"
    assert missing.json()["error"] is True
    invalid = get(sim, "2026-11-13", app_id="not-a-sim-id")
    assert (invalid.status_code, invalid.json()["message"]) == (401, "invalid_app_id")
    future = get(sim, "2026-11-21", app_id="sim_x")
    assert (future.status_code, future.json()["message"]) == (400, "not_available")
    base = get(sim, "2026-11-13", app_id="sim_x", base="EUR")
    assert (base.status_code, base.json()["message"]) == (400, "invalid_base")


def test_knobs_make_missing_days_weekends_corrections_and_faults(sim: FxRatesSimulator) -> None:
    sim.state.configure(
        missing_days=["2026-11-11"], skip_weekends=True, corrections={"2026-11-13": {"JMD": 160}}
    )
    assert get(sim, "2026-11-11", app_id="sim_x").json()["message"] == "not_available"
    assert get(sim, "2026-11-14", app_id="sim_x").json()["message"] == "not_available"  # Sat
    assert get(sim, "2026-11-13", app_id="sim_x", symbols="JMD").json()["rates"] == {"JMD": 160.0}
    fault = requests.post(
        f"{sim.url}/__sim__/faults",
        json={"path_contains": "2026-11-12", "count": 1, "http_status": 503},
        timeout=10,
    )
    assert fault.status_code == 200
    assert get(sim, "2026-11-12", app_id="sim_x").status_code == 503
    assert get(sim, "2026-11-12", app_id="sim_x").status_code == 200
    log = requests.get(f"{sim.url}/__sim__/requests", timeout=10).json()["requests"]
    assert all("sim_x" not in str(r) for r in log)  # the app id is never logged
