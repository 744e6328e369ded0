"""Fixtures of the services' tests."""

import pytest

from adinsights_pipelines.services.tenant_onboarding import add_tenant
from adinsights_pipelines.warehouse.database import Database, engine


@pytest.fixture
def tenant(database: Database) -> str:
    """island-grill, added by the command line (audited as the ``cli``)."""
    with engine(database).begin() as conn:
        add_tenant(conn, "island-grill", "Island Grill", actor="cli")
    return "island-grill"
