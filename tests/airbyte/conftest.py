"""The Airbyte simulator, and one product environment per test module pointed at it.

Building a database and a Dagster instance costs seconds, so a module shares them; each test
gets its own tenant and connection (and a fresh simulator), which keeps tests independent.
"""

import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from dagster import DagsterInstance

from adinsights_pipelines.instance import prepare_dagster_home
from adinsights_pipelines.settings import Settings
from adinsights_pipelines.simulators.airbyte import AirbyteSimState, AirbyteSimulator
from adinsights_pipelines.warehouse.database import Database, engine
from tests.conftest import ModuleEnvironment, disposing
from tests.tenants import add_google_ads_tenant

JOB_SECONDS = 0.2
_customers = itertools.count(1_000_000_001)


@pytest.fixture(scope="session")
def airbyte_sim() -> Iterator[AirbyteSimulator]:
    with AirbyteSimulator(AirbyteSimState(seed=7)) as sim:
        yield sim


def airbyte_environment(mp: pytest.MonkeyPatch, sim: AirbyteSimulator) -> None:
    mp.setenv("ADINSIGHTS_AIRBYTE_URL", sim.url)
    mp.setenv("ADINSIGHTS_AIRBYTE_WORKSPACE_ID", sim.state.workspace_id)
    mp.setenv("ADINSIGHTS_AIRBYTE_POLL_INTERVAL_SECONDS", "0.05")
    mp.setenv("ADINSIGHTS_AIRBYTE_SYNC_TIMEOUT_SECONDS", "20")
    mp.setenv("ADINSIGHTS_AIRBYTE_REQUEST_MAX_RETRIES", "2")
    mp.setenv("ADINSIGHTS_AIRBYTE_REQUEST_RETRY_DELAY_SECONDS", "0.05")


@dataclass
class World:
    db: Database
    instance: DagsterInstance
    sim: AirbyteSimulator
    workdir: Path


@pytest.fixture(scope="module")
def world(module_environment: ModuleEnvironment, airbyte_sim: AirbyteSimulator) -> Iterator[World]:
    """A migrated database, a Dagster instance on it and the product's environment."""
    with module_environment("airbyte") as (db, workdir, mp):
        airbyte_environment(mp, airbyte_sim)
        prepare_dagster_home(Settings(), db)
        with disposing(DagsterInstance.get()) as instance:
            yield World(db, instance, airbyte_sim, workdir)


@pytest.fixture
def airbyte(world: World) -> Iterator[AirbyteSimulator]:
    """The simulator, fresh for this test."""
    world.sim.state.reset()
    world.sim.state.configure(job_duration_s=JOB_SECONDS)
    yield world.sim
    world.sim.up()
    world.sim.state.reset()


def register(
    world: World,
    tenant_id: str,
    *,
    currency: str = "JMD",
    interval_minutes: int = 60,
    sim: AirbyteSimulator | None = None,
) -> str:
    """A tenant (and its partition) with a Google Ads connection in Airbyte and our tables."""
    customer_id = str(next(_customers))
    connection = (sim or world.sim).state.add_connection(
        customer_id, currency=currency, database_url=world.db.plain_url
    )
    with engine(world.db).begin() as conn:
        add_google_ads_tenant(
            conn,
            tenant_id,
            tenant_id.title(),
            connection_id=connection.connection_id,
            customer_id=customer_id,
            interval_minutes=interval_minutes,
        )
    world.instance.add_dynamic_partitions("tenant", [tenant_id])
    return connection.connection_id


@dataclass(frozen=True)
class Tenant:
    id: str
    connection_id: str


@pytest.fixture
def tenant(request: pytest.FixtureRequest, world: World, airbyte: AirbyteSimulator) -> Tenant:
    """A tenant of this test alone (named after it), with its Google Ads connection."""
    tenant_id = request.node.name.removeprefix("test_")[:40].replace("_", "-").strip("-")
    return Tenant(tenant_id, register(world, tenant_id))
