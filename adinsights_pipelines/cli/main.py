"""The ``adinsights`` command: the root group with every command group on it, and ``main``,
which turns errors into one line and an exit code (the console script's entry point)."""

from __future__ import annotations

import sys

import click
import sqlalchemy.exc

from adinsights_pipelines.cli import (
    airbyte,
    checks,
    credentials,
    demo,
    fx,
    keys,
    meta,
    tenants,
    warehouse,
)
from adinsights_pipelines.errors import AdinsightsError


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def cli() -> None:
    """ADinsights Pipelines: ad-analytics data platform on Dagster."""


for command in (
    tenants.tenants,
    credentials.credentials,
    credentials.web_analytics,
    keys.api_keys,
    keys.rotate_deks_command,
    keys.generate_master_key_command,
    airbyte.sync_airbyte_command,
    airbyte.airbyte_connections,
    meta.meta_group,
    meta.meta_backfill,
    fx.fx_rates,
    warehouse.migrate,
    warehouse.run_dbt_command,
    warehouse.dbt_freshness,
    warehouse.snapshot_metrics,
    warehouse.retention,
    checks.check_contracts,
    checks.reconcile,
    checks.alerts,
    checks.simulate_alerts_command,
    demo.demo,
    demo.serve_api,
    demo.simulate,
):
    cli.add_command(command)


def main() -> None:
    from adinsights_pipelines.logs import configure_logging

    # Library log lines as JSON on stderr (warnings and up); the operator's progress lines are
    # plain text from progress().
    configure_logging("WARNING")
    try:
        cli.main(standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("adinsights: aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except AdinsightsError as exc:
        click.echo(f"adinsights: error: {exc}", err=True)
        sys.exit(2)
    except sqlalchemy.exc.OperationalError as exc:
        # A database that went away mid-command: the driver's first line, never the URL.
        reason = str(exc.orig or exc).strip().splitlines()[0]
        click.echo(f"adinsights: error: database error: {reason}", err=True)
        sys.exit(2)
    except KeyboardInterrupt:
        sys.exit(130)
