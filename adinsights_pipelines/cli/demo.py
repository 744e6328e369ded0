"""``adinsights demo``, ``serve-api`` and the loopback simulators (``adinsights simulate``)."""

from __future__ import annotations

from collections.abc import Callable

import click

from adinsights_pipelines.cli.common import Command, progress


@click.command()
@click.option("--once", is_flag=True, help="Do the demo's work, check the API, exit (no serving).")
def demo(once: bool) -> None:
    """Run the whole product on demo tenants fed by the Meta simulator."""
    from adinsights_pipelines.demo import run_demo

    run_demo(once=once, progress=progress)


@click.command("serve-api")
def serve_api() -> None:
    """Serve the JSON API with uvicorn."""
    import uvicorn

    from adinsights_pipelines.bootstrap import bootstrap
    from adinsights_pipelines.code_location import asset_graph
    from adinsights_pipelines.logs import configure_logging
    from api.app import create_app

    rt = bootstrap(progress)
    configure_logging("INFO")
    # X-Forwarded-For is believed only from ADINSIGHTS_TRUSTED_PROXIES, which the app applies;
    # uvicorn's own proxy-header handling (trusting 127.0.0.1 by default) stays off.
    uvicorn.run(
        create_app(rt.db, rt.settings, asset_graph=asset_graph),
        host=rt.settings.api_host,
        port=rt.settings.api_port,
        log_config=None,
        proxy_headers=False,
        access_log=False,  # the app writes its own JSON access log (api.access)
    )


@click.group()
def simulate() -> None:
    """Loopback simulators of the outside APIs."""


def _listening_on(port: int) -> Callable[[Command], Command]:
    """A simulator's ``--host`` and ``--port`` options (``port``: its default)."""

    def options(command: Command) -> Command:
        command = click.option("--port", default=port, type=click.IntRange(0, 65535))(command)
        return click.option("--host", default="127.0.0.1")(command)

    return options


@simulate.command("meta")
@_listening_on(8010)
def simulate_meta(host: str, port: int) -> None:
    """Serve the Meta Graph API simulator."""
    from adinsights_pipelines.simulators.meta_graph import main as serve

    serve(host, port)


@simulate.command("airbyte")
@_listening_on(8011)
@click.option(
    "--database-url",
    envvar="ADINSIGHTS_DATABASE_URL",
    help="Where its syncs write (default: ADINSIGHTS_DATABASE_URL).",
)
@click.option("--seed", default=42, show_default=True, type=int)
def simulate_airbyte(host: str, port: int, database_url: str | None, seed: int) -> None:
    """Serve the Airbyte simulator (add connections with POST /__sim__/connections)."""
    from adinsights_pipelines.simulators.airbyte import main as serve

    serve(host, port, database_url, seed)


@simulate.command("google")
@_listening_on(8012)
def simulate_google(host: str, port: int) -> None:
    """Serve the Google simulator (OAuth token endpoint, GA4 Data API, Search Console)."""
    from adinsights_pipelines.simulators.google import main as serve

    serve(host, port)


@simulate.command("fx-rates")
@_listening_on(8013)
def simulate_fx_rates(host: str, port: int) -> None:
    """Serve the exchange-rate simulator (Open Exchange Rates' historical endpoint)."""
    from adinsights_pipelines.simulators.fx_rates import main as serve

    serve(host, port)
