"""Registering GA4 properties, Search Console sites and Google refresh tokens from the CLI."""

import os
import subprocess
import sys
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from click.testing import CliRunner, Result

from adinsights_pipelines.cli.main import cli
from adinsights_pipelines.errors import AdinsightsError
from adinsights_pipelines.simulators.google import GoogleSimulator
from adinsights_pipelines.tenant_store import add_tenant, get_credential
from adinsights_pipelines.warehouse.database import Database, engine

REFRESH = "sim_cli_refresh_token_5e2a9c"


@pytest.fixture
def tenant(product_env: Database, google_sim: GoogleSimulator) -> Iterator[str]:
    google_sim.state.reset()
    with engine(product_env).begin() as conn:
        add_tenant(conn, "island-grill", "Island Grill")
    yield "island-grill"
    google_sim.state.reset()


def run(*args: str, stdin: str | None = None) -> Result:
    return CliRunner().invoke(cli, list(args), input=stdin)


def audit(db: Database) -> list[tuple[str, str]]:
    with engine(db).connect() as conn:
        return [
            (r.action, r.resource_id)
            for r in conn.execute(
                sa.text(
                    "select action, resource_id from app.audit_log "
                    "where tenant_id = 'island-grill' order by id"
                )
            )
        ]


def test_sources_are_added_listed_and_removed_with_audit(
    product_env: Database, tenant: str
) -> None:
    added = run("web-analytics", "add", "--tenant", tenant, "--ga4-property", "properties/4242")
    assert added.exit_code == 0, added.output
    assert "ga4 4242 added for island-grill" in added.output
    site = "sc-domain:islandgrill.jm"
    assert (
        run("web-analytics", "add", "--tenant", tenant, "--search-console-site", site).exit_code
        == 0
    )

    listing = run("web-analytics", "list", "--tenant", tenant)
    lines = [line.split() for line in listing.output.splitlines()[1:]]
    assert lines == [
        ["island-grill", "ga4", "active", "never", "4242"],
        ["island-grill", "search_console", "active", "never", site],
    ]
    removed = run("web-analytics", "remove", "--tenant", tenant, "--ga4-property", "4242")
    assert removed.exit_code == 0 and "rows kept" in removed.output
    assert "inactive" in run("web-analytics", "list").output
    assert audit(product_env) == [
        ("web_analytics_source_added", "ga4:4242"),
        ("web_analytics_source_added", f"search_console:{site}"),
        ("web_analytics_source_deactivated", "ga4:4242"),
    ]

    both = run("web-analytics", "add", "--tenant", tenant)
    assert isinstance(both.exception, AdinsightsError)
    assert "exactly one of --ga4-property and --search-console-site" in str(both.exception)
    bad = run("web-analytics", "add", "--tenant", tenant, "--ga4-property", "UA-123-1")
    assert "invalid GA4 property id" in str(bad.exception)


def test_google_refresh_token_is_checked_then_stored_encrypted(
    product_env: Database, tenant: str, keyring, google_sim: GoogleSimulator
) -> None:
    done = run("credentials", "add", "--tenant", tenant, "--platform", "ga4", stdin=REFRESH + "\n")
    assert done.exit_code == 0, done.output
    assert google_sim.state.request_count("/token") == 1  # exchanged once to check it
    with engine(product_env).connect() as conn:
        credential = get_credential(conn, keyring, tenant, "ga4")
        scopes = conn.execute(
            sa.text("select scopes from app.platform_credentials where provider = 'ga4'")
        ).scalar_one()
    assert credential is not None and credential.access_token == REFRESH
    assert "https://www.googleapis.com/auth/analytics.readonly" in scopes
    assert audit(product_env) == [("credential_updated", "ga4")]


def test_revoked_or_unscoped_tokens_are_refused_in_one_line(
    product_env: Database, tenant: str, google_sim: GoogleSimulator
) -> None:
    google_sim.state.revoke(REFRESH)
    command = ["credentials", "add", "--tenant", tenant, "--platform", "search_console"]
    revoked = subprocess.run(
        [sys.executable, "-m", "adinsights_pipelines.cli", *command],
        input=REFRESH,
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert revoked.returncode == 2
    last = revoked.stderr.strip().splitlines()[-1]
    assert last == (
        "adinsights: error: Google refused the refresh token "
        "(invalid_grant: Token has been expired or revoked.)"
    )
    assert REFRESH not in revoked.stderr

    unscoped = run(
        "credentials", "add", "--tenant", tenant, "--platform", "search_console",
        stdin="sim_cli_ga4only_token\n",
    )  # fmt: skip
    assert "missing_required_permissions" in str(unscoped.exception)
    with engine(product_env).connect() as conn:
        assert conn.execute(sa.text("select count(*) from app.platform_credentials")).scalar() == 0
