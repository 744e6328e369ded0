"""``onboard_world``: the API served on a real loopback port next to a Meta simulator of its own
(Facebook Login included), a real Dagster instance and a cloned database with two tenants.

The tenants ``north-shore``, ``south-coast``, ``east-end`` and ``west-bay`` start with no Meta
connection; the person who signs in to "Facebook" for each is a different simulated user
(``north_client``...), so their ad accounts and Pages differ. The onboarding link, the dialog, the
callback and the pages are all reached over HTTP exactly as a browser reaches them.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import sqlalchemy as sa
from dagster import DagsterInstance

from adinsights_pipelines.api_keys import create_api_key
from adinsights_pipelines.encryption import keyring_from_settings
from adinsights_pipelines.instance import prepare_dagster_home
from adinsights_pipelines.ports import free_port
from adinsights_pipelines.settings import Settings
from adinsights_pipelines.simulators.meta_graph import MetaSimulator
from adinsights_pipelines.simulators.server import LoopbackServer
from adinsights_pipelines.tenant_store import add_tenant
from adinsights_pipelines.warehouse.database import Database, engine
from api.app import create_app
from tests.api.conftest import NO_THROTTLES
from tests.conftest import cloned_database, disposing, point_environment_at

NORTH, SOUTH, EAST, WEST = "north-shore", "south-coast", "east-end", "west-bay"
USERS = {NORTH: "north_client", SOUTH: "south_client", EAST: "east_client", WEST: "west_client"}


@dataclass
class OnboardWorld:
    db: Database
    settings: Settings
    api_url: str
    sim: MetaSimulator
    operator_key: str
    tenant_key: str
    instance: DagsterInstance

    @property
    def engine(self) -> sa.Engine:
        return engine(self.db)

    def operator(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.operator_key}"}

    def operator_get(self, path: str, **params: str) -> Any:
        """The JSON answer to the operator's ``GET path`` on the API."""
        url = f"{self.api_url}{path}"
        return requests.get(url, params=params, headers=self.operator(), timeout=30).json()

    def link(self, tenant_id: str) -> str:
        """An onboarding link as `adinsights meta connect` prints it (its token)."""
        from adinsights_pipelines.defs.meta.connect import LoginConfig, Signer, onboarding_link

        ring = keyring_from_settings(self.settings)
        url = onboarding_link(LoginConfig.from_settings(self.settings), Signer(ring), tenant_id)
        return parse_qs(urlsplit(url).query)["link"][0]

    def report_runs_started(self, account_id: str) -> int:
        """Async insight report runs the first sync started for the account (POST insights)."""
        return sum(
            1
            for r in self.sim.state.requests
            if r.method == "POST" and r.path.endswith(f"/{account_id}/insights")
        )

    def sign_in_as(self, tenant_id: str) -> None:
        self.sim.state.login.user = USERS[tenant_id]

    def scalar(self, sql: str, **params: Any) -> Any:
        with self.engine.connect() as conn:
            return conn.execute(sa.text(sql), params).scalar()

    def start(self, link: str) -> dict[str, Any]:
        response = requests.post(
            f"{self.api_url}/api/integrations/meta/oauth/start/",
            json={"link": link},
            timeout=30,
        )
        assert response.status_code == 200, response.text
        return response.json()

    def dialog(self, authorize_url: str) -> tuple[str, dict[str, str], list[str]]:
        """Open the Login dialog: (html, its hidden fields, the permissions offered)."""
        page = requests.get(authorize_url, timeout=30)
        assert page.status_code == 200
        hidden = dict(re.findall(r'type="hidden" name="([^"]+)" value="([^"]*)"', page.text))
        offered = re.findall(r'name="permission" value="([a-z_]+)"', page.text)
        return page.text, {k: _unescape(v) for k, v in hidden.items()}, offered

    def answer_dialog(
        self, authorize_url: str, *, untick: tuple[str, ...] = (), cancel: bool = False
    ) -> str:
        """Press Continue (with some permissions unticked) or Cancel: the callback URL."""
        _, hidden, offered = self.dialog(authorize_url)
        form: list[tuple[str, str]] = list(hidden.items())
        form += [("permission", p) for p in offered if p not in untick]
        form.append(("choice", "cancel" if cancel else "continue"))
        response = requests.post(authorize_url, data=form, allow_redirects=False, timeout=30)
        assert response.status_code == 302, response.text
        return response.headers["location"]

    def callback(self, url: str, *, html: bool = False) -> requests.Response:
        accept = "text/html" if html else "application/json"
        return requests.get(url, headers={"Accept": accept}, timeout=60)

    def connect(self, tenant_id: str, link: str | None = None) -> dict[str, Any]:
        """The whole sign-in with every permission granted; the callback's JSON."""
        self.sign_in_as(tenant_id)
        started = self.start(link or self.link(tenant_id))
        response = self.callback(self.answer_dialog(started["authorize_url"]))
        assert response.status_code == 200, response.text
        return response.json()


def _unescape(value: str) -> str:
    import html

    return html.unescape(value)


@pytest.fixture(scope="module")
def onboard_world(
    pg_admin: Database, template_database: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[OnboardWorld]:
    workdir: Path = tmp_path_factory.mktemp("onboard")
    with (
        cloned_database(pg_admin, template_database) as db,
        pytest.MonkeyPatch.context() as mp,
        MetaSimulator(port=0) as sim,
    ):
        point_environment_at(mp, db, workdir, sim.url)
        # A short history keeps the first sync quick; it is longer than the lookback window,
        # so an account's first sync loads it through async report runs, as in production.
        mp.setenv("ADINSIGHTS_META_INITIAL_SYNC_DAYS", "10")
        mp.setenv("ADINSIGHTS_META_INSIGHTS_LOOKBACK_DAYS", "3")
        port = free_port()
        api_url = f"http://127.0.0.1:{port}"
        settings = Settings().model_copy(
            update={
                **NO_THROTTLES,
                "frontend_base_url": api_url,
                "meta_dialog_url": sim.url,
                "api_access_log": False,
            }
        )
        prepare_dagster_home(settings, db)
        with engine(db).begin() as conn:
            add_tenant(conn, NORTH, "North Shore Surf Co")
            add_tenant(conn, SOUTH, "South Coast Bakery")
            add_tenant(conn, EAST, "East End Motors")
            add_tenant(conn, WEST, "West Bay Dental")
            operator = create_api_key(conn, tenant_id=None, operator=True, label="tests")
            tenant_key = create_api_key(conn, tenant_id=NORTH, operator=False, label="tests")
        server = LoopbackServer(create_app(db, settings), port=port, name="API")
        with server, disposing(DagsterInstance.get()) as instance:
            yield OnboardWorld(db, settings, api_url, sim, operator, tenant_key, instance)
