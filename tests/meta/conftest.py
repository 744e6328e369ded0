"""Fixtures of the Meta tests: a Meta simulator of a module's own."""

from collections.abc import Iterator
from datetime import date

import pytest

from adinsights_pipelines.simulators.meta_graph import MetaSimState, MetaSimulator

#: The simulator's today in the modules that use ``sim`` as it comes.
TODAY = date(2025, 6, 30)


@pytest.fixture(scope="module")
def sim() -> Iterator[MetaSimulator]:
    """A Meta simulator for the module, its today ``TODAY``; a module resets its state."""
    with MetaSimulator(MetaSimState(today=TODAY)) as running:
        yield running
