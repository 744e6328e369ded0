"""Fixtures of the Google tests: the session's Google simulator, reset around each test."""

from collections.abc import Iterator

import pytest

from adinsights_pipelines.simulators.google import GoogleSimulator


@pytest.fixture
def sim(google_sim: GoogleSimulator) -> Iterator[GoogleSimulator]:
    google_sim.state.reset()
    yield google_sim
    google_sim.state.reset()
