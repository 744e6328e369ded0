"""``/api/analytics/web/ga4/`` and ``/api/analytics/web/search-console/`` over rows the real
clients loaded from the Google simulator."""

from collections.abc import Iterator
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from starlette.testclient import TestClient

from adinsights_pipelines.api_keys import create_api_key
from adinsights_pipelines.defs.google.assets import load_rows
from adinsights_pipelines.defs.google.resources import GoogleApis
from adinsights_pipelines.defs.google.rows import (
    GA4_COLUMNS,
    GA4_KEY,
    GA4_TABLE,
    SEARCH_CONSOLE_COLUMNS,
    SEARCH_CONSOLE_KEY,
    SEARCH_CONSOLE_TABLE,
    ga4_record,
    search_console_record,
)
from adinsights_pipelines.simulators.google import GoogleSimulator
from adinsights_pipelines.tenant_store import add_tenant
from adinsights_pipelines.warehouse.database import Database, engine
from api.app import create_app
from api.pagination import encode_cursor
from tests.api.reads import get, walk
from tests.conftest import cloned_database

# Overlapping ids on purpose.
SOURCES = {
    "acme": ("510000001", "https://www.acme.jm/"),
    "acme-jm": ("510000002", "sc-domain:acme-jm.com"),
}
GA4 = "/api/analytics/web/ga4/"
GSC = "/api/analytics/web/search-console/"
BAD_DATE_CURSOR = encode_cursor({"after": ["2026-13-45", "510000001", "Kingston", "Direct"]})
GSC_BAD_DATE_CURSOR = encode_cursor({"after": ["2026-02-30", "https://a/", "q", "p", "c", "d"]})


def apis(sim: GoogleSimulator) -> GoogleApis:
    return GoogleApis(
        oauth_token_url=sim.token_url,
        ga4_api_url=sim.url,
        search_console_api_url=sim.url,
        client_id="c",
        client_secret="api-test-client-secret",
        ga4_lookback_days=3,
        search_console_lookback_days=5,
        search_console_data_state="all",
        ga4_page_size=100,
        search_console_row_limit=200,
        backoff_max_s=0.05,
    )


@pytest.fixture(scope="module")
def loaded(
    pg_admin: Database, template_database: str, google_sim: GoogleSimulator
) -> Iterator[tuple[Database, dict[str, str]]]:
    """One database for the module: two tenants' rows loaded from the simulator, and keys."""
    google_sim.state.reset()
    with cloned_database(pg_admin, template_database) as db:
        eng = engine(db)
        keys = {}
        with eng.begin() as conn:
            for tenant in (*SOURCES, "empty-co"):
                add_tenant(conn, tenant, tenant)
                keys[tenant] = create_api_key(conn, tenant_id=tenant)
            keys["operator"] = create_api_key(conn, tenant_id=None, operator=True)
        google = apis(google_sim)
        jamaica = datetime.now(ZoneInfo("America/Jamaica")).date()
        pacific = datetime.now(ZoneInfo("America/Los_Angeles")).date()
        for tenant, (property_id, site) in SOURCES.items():
            ga4 = google.ga4(f"sim_api_{tenant}")
            rows = ga4.iter_report(property_id, jamaica - timedelta(days=2), jamaica)
            records = (ga4_record(tenant, property_id, r) for r in rows)
            load_rows(eng, GA4_TABLE, GA4_COLUMNS, GA4_KEY, records)
            gsc = google.search_console(f"sim_api_{tenant}")
            found = gsc.iter_rows(site, pacific - timedelta(days=4), pacific, row_limit=200)
            records = (search_console_record(tenant, site, r) for r in found)
            load_rows(
                eng, SEARCH_CONSOLE_TABLE, SEARCH_CONSOLE_COLUMNS, SEARCH_CONSOLE_KEY, records
            )
        yield db, keys


@pytest.fixture(scope="module")
def client(loaded) -> Iterator[TestClient]:
    with TestClient(create_app(loaded[0])) as test_client:
        yield test_client


def count(db: Database, sql: str, **params) -> int:
    with engine(db).connect() as conn:
        return int(conn.execute(sa.text(sql), params).scalar_one())


def test_ga4_rows_page_through_every_row_once(loaded, client: TestClient) -> None:
    db, keys = loaded
    rows = walk(client, keys["acme"], GA4, limit=40)
    stored = count(db, "select count(*) from raw.ga4_daily where tenant_id = 'acme'")
    keys_seen = [
        (r["date"], r["property_id"], r["region"], r["session_default_channel_group"]) for r in rows
    ]
    assert len(rows) == stored > 80 and len(set(keys_seen)) == len(rows)
    assert keys_seen == sorted(keys_seen)
    first = rows[0]
    assert first["property_id"] == SOURCES["acme"][0]
    assert isinstance(first["sessions"], int) and isinstance(first["key_events"], str)
    date.fromisoformat(first["date"])
    only_today = get(client, keys["acme"], GA4, since=rows[-1]["date"], limit=500)["results"]
    assert only_today and {r["date"] for r in only_today} == {rows[-1]["date"]}


def test_search_console_rows_filter_by_site_and_data_state(loaded, client: TestClient) -> None:
    db, keys = loaded
    site = SOURCES["acme"][1]
    every = walk(client, keys["acme"], GSC, site_url=site, limit=200)
    assert len(every) == count(
        db, "select count(*) from raw.search_console_daily where tenant_id = 'acme'"
    )
    fresh = walk(client, keys["acme"], GSC, data_state="all", limit=200)
    final = walk(client, keys["acme"], GSC, data_state="final", limit=200)
    assert fresh and final and len(fresh) + len(final) == len(every)
    assert max(r["date"] for r in final) < min(r["date"] for r in fresh)
    assert set(every[0]) == {
        "site_url", "date", "query", "page", "country", "device", "clicks", "impressions",
        "ctr", "position", "data_state",
    }  # fmt: skip
    assert get(client, keys["acme"], GSC, site_url="https://www.other.jm/")["results"] == []


def test_each_key_reads_only_its_tenant(loaded, client: TestClient) -> None:
    _, keys = loaded
    mine = {r["property_id"] for r in walk(client, keys["acme-jm"], GA4, limit=500)}
    assert mine == {SOURCES["acme-jm"][0]}
    sites = {r["site_url"] for r in walk(client, keys["acme-jm"], GSC, limit=500)}
    assert sites == {SOURCES["acme-jm"][1]}
    # Asking for another tenant's property just finds nothing.
    other = get(client, keys["acme-jm"], GA4, property_id=SOURCES["acme"][0])
    assert other["results"] == []
    assert get(client, keys["empty-co"], GSC)["results"] == []

    refused = client.get(
        GA4, params={"tenant_id": "acme"}, headers={"Authorization": f"Bearer {keys['acme-jm']}"}
    )
    assert refused.status_code == 403
    operator = get(client, keys["operator"], GA4, tenant_id="acme", limit=500)["results"]
    assert {r["property_id"] for r in operator} == {SOURCES["acme"][0]}
    assert client.get(GSC).status_code == 401


@pytest.mark.parametrize(
    ("path", "params", "detail"),
    [
        (GA4, {"since": "yesterday"}, "since must be a date"),
        (GA4, {"until": "2026-13-01"}, "until must be a date"),
        (GA4, {"since": "2026-03-02", "until": "2026-03-01"}, "since is after until"),
        (GA4, {"since": "2024-01-01", "until": "2026-01-01"}, "spans more than"),
        (GA4, {"limit": "0"}, "limit must be"),
        (GA4, {"limit": "ten"}, "limit must be"),
        (GA4, {"cursor": "not-a-cursor"}, "cursor is not valid"),
        (GA4, {"property_id": "UA-1"}, "property_id must be"),
        (GSC, {"site_url": "ftp://example.com/"}, "site_url must be"),
        (GSC, {"data_state": "fresh"}, "data_state must be"),
        (GSC, {"tenant_id": "Not A Tenant"}, "tenant_id is not a valid"),
        # values PostgreSQL would refuse (a 500 before)
        (GSC, {"site_url": "https://a\x00b/"}, "site_url contains control characters"),
        (GA4, {"cursor": BAD_DATE_CURSOR}, "cursor is not valid"),
        (GSC, {"cursor": GSC_BAD_DATE_CURSOR}, "cursor is not valid"),
        (GA4, {"property_id": "510000001\n"}, "property_id must be"),
    ],
)
def test_bad_input_answers_400_problem_json(
    loaded, client: TestClient, path: str, params: dict, detail: str
) -> None:
    _, keys = loaded
    answer = client.get(path, params=params, headers={"Authorization": f"Bearer {keys['acme']}"})
    assert answer.status_code == 400
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert detail in answer.json()["detail"]


@pytest.mark.parametrize("path", [GA4, GSC])
def test_a_window_at_the_edge_of_the_calendar_is_an_empty_page(
    loaded, client: TestClient, path: str
) -> None:
    """``until`` in year 1: the default window stops at 0001-01-01 (it overflowed: a 500)."""
    _, keys = loaded
    answer = client.get(
        path, params={"until": "0001-01-05"}, headers={"Authorization": f"Bearer {keys['acme']}"}
    )
    assert answer.status_code == 200
    assert answer.json() == {"results": [], "next_cursor": None}
