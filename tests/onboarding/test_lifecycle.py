"""The Meta connector lifecycle over HTTP: the API and the simulator's Facebook Login, as a
browser and an operator reach them (``onboard_world``)."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import parse_qs, urlencode, urlsplit

import requests
import time_machine
from starlette.testclient import TestClient

from adinsights_pipelines.defs.meta import connect
from adinsights_pipelines.defs.meta.graph_versions import DEFAULT_VERSION
from adinsights_pipelines.encryption import LocalKeyring, generate_master_key, parse_master_key
from api.app import create_app
from tests.cli import adinsights
from tests.onboarding.conftest import EAST, NORTH, SOUTH, WEST, OnboardWorld

REQUIRED = ["ads_read", "business_management", "pages_read_engagement", "pages_show_list"]


def _query(url: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(url).query)


def test_start_gives_the_login_dialog_url_with_a_signed_state(onboard_world: OnboardWorld) -> None:
    w = onboard_world
    started = w.start(w.link(NORTH))
    url = urlsplit(started["authorize_url"])
    query = _query(started["authorize_url"])
    assert f"{url.scheme}://{url.netloc}" == w.sim.url
    assert url.path == f"/{DEFAULT_VERSION}/dialog/oauth"  # the version the product calls
    assert query["client_id"] == ["sim-app"]
    assert query["redirect_uri"] == [f"{w.api_url}/api/integrations/meta/oauth/callback/"]
    assert query["scope"] == [",".join(REQUIRED)]
    assert query["response_type"] == ["code"]
    assert "auth_type" not in query and "config_id" not in query
    assert started["rerequest"] is False and started["state_expires_in"] == 600
    # the same through an operator key
    response = requests.post(
        f"{w.api_url}/api/integrations/meta/oauth/start/",
        params={"tenant_id": SOUTH},
        headers=w.operator(),
        timeout=30,
    )
    assert response.status_code == 200
    assert response.json()["tenant_id"] == SOUTH


def test_setup_before_and_after_connecting(onboard_world: OnboardWorld) -> None:
    w = onboard_world
    before = w.operator_get("/api/integrations/meta/setup/", tenant_id=SOUTH)
    assert before["status"] == "not_connected"
    assert before["connected"] is False and before["ad_accounts"] == []
    outcome = w.connect(SOUTH)
    assert outcome["status"] == "connected"
    assert set(REQUIRED) <= set(outcome["scopes"])
    after = requests.get(
        f"{w.api_url}/api/integrations/meta/setup/",
        params={"link": w.link(SOUTH)},
        timeout=30,
    ).json()
    assert after["status"] == "started_not_complete"
    assert after["reason"] == "no_accounts_synced"
    assert len(after["ad_accounts"]) == 2
    assert all(a["id"].startswith("act_") and a["selected"] is False for a in after["ad_accounts"])
    # each with the zone Meta reports its days in (the simulator's second account is in LA)
    assert sorted(a["timezone_name"] for a in after["ad_accounts"]) == [
        "America/Jamaica",
        "America/Los_Angeles",
    ]
    assert after["pages"] and after["selected"] == {"ad_accounts": [], "pages": []}
    # stored encrypted: the long-lived token is not in the row
    ciphertext = w.scalar(
        "select token_ciphertext from app.platform_credentials "
        "where tenant_id = :t and provider = 'meta'",
        t=SOUTH,
    )
    assert b"sim_ll_fb_south_client" not in bytes(ciphertext)
    assert _audits(w, SOUTH, "meta_oauth_connected") == 1


def _audits(w: OnboardWorld, tenant_id: str, action: str) -> int:
    return int(
        w.scalar(
            "select count(*) from app.audit_log where tenant_id = :t and action = :a",
            t=tenant_id,
            a=action,
        )
    )


def _credentials(w: OnboardWorld, tenant_id: str) -> int:
    return int(
        w.scalar(
            "select count(*) from app.platform_credentials where tenant_id = :t "
            "and provider = 'meta'",
            t=tenant_id,
        )
    )


def _api(w: OnboardWorld, method: str, endpoint: str, **kwargs: object) -> requests.Response:
    return requests.request(
        method, f"{w.api_url}/api/integrations/meta/{endpoint}", timeout=60, **kwargs
    )


def test_unticked_business_management_then_rerequest_then_success(
    onboard_world: OnboardWorld,
) -> None:
    w = onboard_world
    link = w.link(EAST)
    w.sign_in_as(EAST)
    first = w.start(link)
    assert first["rerequest"] is False
    _, _, offered = w.dialog(first["authorize_url"])
    assert offered == REQUIRED
    page = w.callback(
        w.answer_dialog(first["authorize_url"], untick=("business_management",)), html=True
    )
    assert page.status_code == 200
    assert "Some permissions are missing" in page.text
    assert "missing_required_permissions" in page.text
    assert "<li><code>business_management</code></li>" in page.text
    assert 'action="/api/integrations/meta/oauth/start/"' in page.text  # "Try again"
    assert _credentials(w, EAST) == 0
    assert _audits(w, EAST, "meta_oauth_missing_permissions") == 1

    # without rerequest Facebook would not ask again for a declined permission
    again = w.start(link)
    assert again["rerequest"] is True
    assert _query(again["authorize_url"])["auth_type"] == ["rerequest"]
    _, _, offered = w.dialog(again["authorize_url"])
    assert offered == ["business_management"]
    outcome = w.callback(w.answer_dialog(again["authorize_url"])).json()
    assert outcome["status"] == "connected"
    assert outcome["missing_permissions"] == []
    assert set(REQUIRED) <= set(outcome["scopes"])
    assert _credentials(w, EAST) == 1
    assert w.start(link)["rerequest"] is False  # the gap is closed


def test_cancel_shows_access_denied_plainly_and_stores_nothing(
    onboard_world: OnboardWorld,
) -> None:
    w = onboard_world
    w.sign_in_as(WEST)
    link = w.link(WEST)
    back = w.answer_dialog(w.start(link)["authorize_url"], cancel=True)
    assert _query(back)["error"] == ["access_denied"]
    assert _query(back)["error_reason"] == ["user_denied"]
    page = w.callback(back, html=True)
    assert page.status_code == 200
    assert "You cancelled the Facebook sign-in" in page.text
    assert "access_denied" in page.text and "Nothing was saved" in page.text
    problem = w.callback(w.answer_dialog(w.start(link)["authorize_url"], cancel=True))
    assert problem.status_code == 400
    assert problem.headers["content-type"] == "application/problem+json"
    assert problem.json()["detail"].startswith("access_denied")
    assert _credentials(w, WEST) == 0
    assert w.scalar("select count(*) from app.meta_selection where tenant_id = :t", t=WEST) == 0
    status = _api(w, "GET", "setup/", params={"link": link}).json()
    assert status["status"] == "not_connected" and status["connected"] is False


def test_forged_expired_or_replayed_state_is_refused(onboard_world: OnboardWorld) -> None:
    w = onboard_world
    w.sign_in_as(WEST)
    callback = f"{w.api_url}/api/integrations/meta/oauth/callback/"

    # forged: signed with another key, or tampered with
    other = connect.Signer(LocalKeyring(parse_master_key(generate_master_key())))
    forged = other.state(WEST, "n" * 32)
    answer = w.callback(f"{callback}?{urlencode({'state': forged, 'code': 'AQx'})}")
    assert answer.status_code == 400 and "state_invalid" in answer.json()["detail"]
    good = _query(w.start(w.link(WEST))["authorize_url"])["state"][0]
    tampered = good[:-2] + ("AA" if not good.endswith("AA") else "BB")
    answer = w.callback(f"{callback}?{urlencode({'state': tampered, 'code': 'AQx'})}")
    assert answer.status_code == 400 and "state_invalid" in answer.json()["detail"]
    page = w.callback(f"{callback}?{urlencode({'state': tampered, 'code': 'AQx'})}", html=True)
    assert page.status_code == 400 and "This step could not be completed" in page.text

    # expired: a state handed out eleven minutes ago
    with time_machine.travel(timedelta(minutes=-11)):
        old = w.start(w.link(WEST))["authorize_url"]
    answer = w.callback(w.answer_dialog(old))
    assert answer.status_code == 400 and "state_expired" in answer.json()["detail"]

    # replayed: the same callback URL a second time
    exchanges = w.sim.state.request_count("/oauth/access_token")
    back = w.answer_dialog(w.start(w.link(WEST))["authorize_url"])
    assert w.callback(back).json()["status"] == "connected"
    replay = w.callback(back)
    assert replay.status_code == 400 and "state_used" in replay.json()["detail"]
    # the replay never reached Meta: one code exchange and one long-lived exchange
    assert w.sim.state.request_count("/oauth/access_token") == exchanges + 2
    assert _credentials(w, WEST) == 1


def test_one_tenants_link_never_reaches_another_tenant(onboard_world: OnboardWorld) -> None:
    w = onboard_world
    east = w.link(EAST)
    for method, endpoint in [
        ("GET", "setup/"),
        ("POST", "oauth/start/"),
        ("POST", "provision/"),
        ("POST", "sync/"),
        ("POST", "logout/"),
    ]:
        answer = _api(w, method, endpoint, params={"link": east, "tenant_id": NORTH})
        assert answer.status_code == 403, (endpoint, answer.text)
        assert answer.json()["detail"] == "this onboarding link is for another tenant"
    # a body naming the other tenant is refused the same way
    answer = _api(
        w, "POST", "provision/", json={"link": east, "tenant_id": SOUTH, "ad_accounts": []}
    )
    assert answer.status_code == 403
    # SOUTH's accounts, which EAST's Facebook user cannot see, cannot be attached to EAST
    south_accounts = [
        a["id"]
        for a in _api(w, "GET", "setup/", params={"link": w.link(SOUTH)}).json()["ad_accounts"]
    ]
    answer = _api(w, "POST", "provision/", json={"link": east, "ad_accounts": south_accounts})
    assert answer.status_code == 400
    assert "not_visible" in answer.json()["detail"]
    assert w.scalar("select count(*) from app.meta_selection where tenant_id = :t", t=EAST) == 0
    # tenant keys are read-only; links expire; a link is not an API key
    tenant_key = {"Authorization": f"Bearer {w.tenant_key}"}
    assert _api(w, "GET", "setup/", headers=tenant_key).status_code == 403
    with time_machine.travel(timedelta(hours=-73)):
        stale = w.link(EAST)
    answer = _api(w, "GET", "setup/", params={"link": stale})
    assert answer.status_code == 401 and "link_expired" in answer.json()["detail"]
    assert _api(w, "GET", "setup/", params={"link": east + "x"}).status_code == 401
    assert _api(w, "GET", "setup/").status_code == 401


def test_provision_sync_then_logout_keeps_the_data(onboard_world: OnboardWorld) -> None:
    w = onboard_world
    w.connect(SOUTH)
    link = w.link(SOUTH)
    setup = _api(w, "GET", "setup/", params={"link": link}).json()
    first, _ = sorted(a["id"] for a in setup["ad_accounts"])
    pages = [p["id"] for p in setup["pages"]]
    provisioned = _api(
        w, "POST", "provision/", json={"link": link, "ad_accounts": [first], "pages": pages}
    )
    assert provisioned.status_code == 200, provisioned.text
    body = provisioned.json()
    assert body["selected"] == {"ad_accounts": [first], "pages": pages}
    assert len(body["run_ids"]) == 4  # meta_sync, meta_pages, dbt_build, metrics_snapshots
    # a second request while it runs answers the running sync
    repeat = _api(w, "POST", "sync/", params={"tenant_id": SOUTH}, headers=w.operator())
    assert repeat.status_code == 200
    assert repeat.json()["already_running"] is True
    assert repeat.json()["run_ids"] == body["run_ids"]
    connect.wait_for_sync(SOUTH, timeout=600)

    state = _api(w, "GET", "setup/", params={"link": link}).json()
    assert state["sync"]["status"] == "succeeded", state["sync"]
    assert state["status"] == "active"
    runs = [w.instance.get_run_by_id(run_id) for run_id in body["run_ids"]]
    assert [r.job_name for r in runs] == [
        "meta_sync",
        "meta_pages",
        "dbt_build",
        "metrics_snapshots",
    ]
    assert all(r.is_success for r in runs)
    # only the chosen account was synced
    synced = w.scalar(
        "select string_agg(distinct account_id, ',') from raw.meta_insights where tenant_id = :t",
        t=SOUTH,
    )
    assert synced == first
    # the first sync loaded the account's history through async report runs (10 days, 2 chunks,
    # each read twice: without a breakdown and by region)
    assert w.report_runs_started(first) == 4
    assert w.scalar("select count(*) from raw.meta_ad_accounts where tenant_id = :t", t=SOUTH) == 1
    # throttled: the sync finished moments ago
    throttled = _api(w, "POST", "sync/", json={"link": link})
    assert throttled.status_code == 429 and "sync_throttled" in throttled.json()["detail"]

    rows = w.scalar("select count(*) from raw.meta_insights where tenant_id = :t", t=SOUTH)
    assert rows > 0
    out = _api(w, "POST", "logout/", params={"tenant_id": SOUTH}, headers=w.operator())
    assert out.status_code == 200, out.text
    assert out.json()["revoked_at_meta"] is True and out.json()["status"] == "not_connected"
    assert "south_client" in w.sim.state.login.revocations
    assert _credentials(w, SOUTH) == 0
    assert _audits(w, SOUTH, "meta_logout") == 1
    # Meta now refuses the old token: the person removed the app
    refused = requests.get(
        f"{w.sim.url}/{DEFAULT_VERSION}/me",
        params={"access_token": "sim_ll_fb_south_client"},
        timeout=30,
    )
    assert refused.status_code == 400
    assert (
        refused.json()["error"]["code"] == 190 and refused.json()["error"]["error_subcode"] == 458
    )
    # data kept
    assert w.scalar("select count(*) from raw.meta_insights where tenant_id = :t", t=SOUTH) == rows
    combined = w.operator_get("/api/metrics/combined/", tenant_id=SOUTH, source="warehouse")
    assert combined["materialization"]["run_id"] == body["run_ids"][3]  # the chain's snapshot
    assert [p["platform"] for p in combined["payload"]["by_platform"]] == ["meta"]
    assert float(combined["payload"]["totals"][0]["spend"]) > 0
    status = w.operator_get("/api/integrations/social/status/", tenant_id=SOUTH)
    meta = next(p for p in status["platforms"] if p["platform"] == "meta")
    assert meta["status"] == "not_connected"
    # logging out twice: nothing left to disconnect
    assert _api(w, "POST", "logout/", json={"link": link}).status_code == 409


def test_a_missing_setting_is_a_503_naming_it(onboard_world: OnboardWorld) -> None:
    w = onboard_world
    cases = [
        ({"meta_app_id": None}, "META_APP_ID"),
        ({"meta_app_secret": None}, "META_APP_SECRET"),
        (
            {"meta_login_config_required": True, "meta_login_config_id": None},
            "META_LOGIN_CONFIG_ID",
        ),
        ({"frontend_base_url": None, "meta_oauth_redirect_uri": None}, "META_OAUTH_REDIRECT_URI"),
        ({"meta_oauth_scopes": "ads_read,pages_show_list"}, "META_OAUTH_SCOPES"),
    ]
    for update, name in cases:
        app = create_app(w.db, w.settings.model_copy(update=update))
        with TestClient(app) as client:
            answer = client.post(
                "/api/integrations/meta/oauth/start/",
                params={"tenant_id": NORTH},
                headers=w.operator(),
            )
        assert answer.status_code == 503, name
        assert answer.json()["detail"].startswith(f"{name} is not set"), answer.json()
    required = w.settings.model_copy(
        update={"meta_login_config_required": True, "meta_login_config_id": "987654321"}
    )
    with TestClient(create_app(w.db, required)) as client:
        answer = client.post(
            "/api/integrations/meta/oauth/start/", params={"tenant_id": NORTH}, headers=w.operator()
        )
    assert _query(answer.json()["authorize_url"])["config_id"] == ["987654321"]


def test_cli_connect_prints_a_link_and_disconnect_logs_out(onboard_world: OnboardWorld) -> None:
    w = onboard_world
    w.connect(WEST)
    printed = adinsights(
        "meta", "connect", "--tenant", WEST, ADINSIGHTS_FRONTEND_BASE_URL=w.api_url
    )
    assert printed.returncode == 0, printed.stderr
    link = printed.stdout.strip()
    assert link.startswith(f"{w.api_url}/onboarding/meta/?link=")
    landing = requests.get(link, timeout=30)
    assert landing.status_code == 200 and "Connect your Facebook ads" in landing.text
    token = _query(link)["link"][0]
    assert _api(w, "GET", "setup/", params={"link": token}).json()["tenant_id"] == WEST
    assert _audits(w, WEST, "meta_onboarding_link_created") == 1

    out = adinsights("meta", "disconnect", "--tenant", WEST)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == (
        f"meta disconnected for {WEST}: grant revoked at Meta; token deleted; synced data kept"
    )
    assert "west_client" in w.sim.state.login.revocations
    assert _credentials(w, WEST) == 0
    again = adinsights("meta", "disconnect", "--tenant", WEST)
    assert again.returncode == 2
    assert again.stderr.strip().splitlines()[-1] == (
        f"adinsights: error: tenant {WEST} has no Meta connection"
    )
    missing = adinsights("meta", "connect", "--tenant", WEST)  # no FRONTEND_BASE_URL in the env
    assert missing.returncode == 2
    assert "adinsights: error: META_OAUTH_REDIRECT_URI is not set" in missing.stderr
