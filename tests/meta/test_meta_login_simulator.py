"""The Meta simulator's Facebook Login: the dialog page, the code exchange, permissions and
revocation, as Meta documents the manual login flow."""

from __future__ import annotations

import re
from collections.abc import Iterator
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import requests

from adinsights_pipelines.simulators.meta_graph import MetaSimulator

REDIRECT = "https://app.example.com/api/integrations/meta/oauth/callback/"
SCOPES = "ads_read,business_management,pages_read_engagement,pages_show_list"


@pytest.fixture
def sim() -> Iterator[MetaSimulator]:
    with MetaSimulator(port=0) as simulator:
        simulator.state.login.user = "pat"
        yield simulator


def _dialog_url(sim: MetaSimulator, **extra: str) -> str:
    params = {"client_id": "42", "redirect_uri": REDIRECT, "state": "s-1", "scope": SCOPES}
    return f"{sim.url}/v26.0/dialog/oauth?{urlencode({**params, **extra})}"


def _answer(url: str, *, untick: tuple[str, ...] = (), cancel: bool = False) -> str:
    page = requests.get(url, timeout=10)
    hidden = re.findall(r'type="hidden" name="([^"]+)" value="([^"]*)"', page.text)
    offered = re.findall(r'name="permission" value="([a-z_]+)"', page.text)
    form = [*hidden, *[("permission", p) for p in offered if p not in untick]]
    form.append(("choice", "cancel" if cancel else "continue"))
    answer = requests.post(url, data=form, allow_redirects=False, timeout=10)
    assert answer.status_code == 302
    return answer.headers["location"]


def _exchange(sim: MetaSimulator, code: str, redirect: str = REDIRECT) -> requests.Response:
    query = {"client_id": "42", "client_secret": "s3cret", "redirect_uri": redirect, "code": code}
    return requests.get(f"{sim.url}/v26.0/oauth/access_token", params=query, timeout=10)


def _debug(sim: MetaSimulator, token: str) -> dict:
    answer = requests.get(
        f"{sim.url}/v26.0/debug_token",
        params={"input_token": token, "access_token": "42|s3cret"},
        timeout=10,
    )
    return answer.json()["data"]


def test_the_dialog_is_a_page_with_the_permissions_as_checkboxes(sim: MetaSimulator) -> None:
    page = requests.get(_dialog_url(sim), timeout=10)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "ADinsights is requesting access to:" in page.text
    assert "Continue as pat?" in page.text
    assert re.findall(r'name="permission" value="([a-z_]+)" checked', page.text) == SCOPES.split(
        ","
    )
    assert 'value="continue"' in page.text and 'value="cancel"' in page.text
    no_app = requests.get(f"{sim.url}/v26.0/dialog/oauth?redirect_uri={REDIRECT}", timeout=10)
    assert no_app.status_code == 400 and "app_id is required" in no_app.text
    # config_id (Facebook Login for Business) stands for the configuration's permissions
    configured = requests.get(
        f"{sim.url}/v26.0/dialog/oauth?"
        + urlencode({"client_id": "42", "redirect_uri": REDIRECT, "config_id": "77"}),
        timeout=10,
    )
    assert re.findall(r'name="permission" value="([a-z_]+)"', configured.text) == SCOPES.split(",")


def test_cancel_redirects_with_access_denied(sim: MetaSimulator) -> None:
    back = urlsplit(_answer(_dialog_url(sim), cancel=True))
    assert f"{back.scheme}://{back.netloc}{back.path}" == REDIRECT
    assert parse_qs(back.query) == {
        "error": ["access_denied"],
        "error_code": ["200"],
        "error_description": ["Permissions error"],
        "error_reason": ["user_denied"],
        "state": ["s-1"],
    }
    assert sim.state.login.grants == {}


def test_code_exchange_once_with_the_same_redirect_then_long_lived(sim: MetaSimulator) -> None:
    back = _answer(_dialog_url(sim), untick=("business_management",))
    query = parse_qs(urlsplit(back).query)
    assert query["state"] == ["s-1"] and urlsplit(back).fragment == "_=_"
    code = query["code"][0]
    wrong = _exchange(sim, code, redirect="https://evil.example/cb")
    assert wrong.status_code == 400 and wrong.json()["error"]["error_subcode"] == 36008
    answer = _exchange(sim, code)
    assert answer.status_code == 200
    assert answer.json() == {
        "access_token": "sim_fb_pat",
        "token_type": "bearer",
        "expires_in": 7200,
    }
    again = _exchange(sim, code)
    assert again.status_code == 400
    assert again.json()["error"]["code"] == 100 and again.json()["error"]["error_subcode"] == 36009
    data = _debug(sim, "sim_fb_pat")
    assert data["is_valid"] is True
    assert data["scopes"] == [
        "ads_read",
        "pages_read_engagement",
        "pages_show_list",
        "public_profile",
    ]
    permissions = requests.get(
        f"{sim.url}/v26.0/me/permissions", params={"access_token": "sim_fb_pat"}, timeout=10
    ).json()["data"]
    assert {"permission": "business_management", "status": "declined"} in permissions
    long_lived = requests.get(
        f"{sim.url}/v26.0/oauth/access_token",
        params={
            "grant_type": "fb_exchange_token",
            "client_id": "42",
            "client_secret": "s3cret",
            "fb_exchange_token": "sim_fb_pat",
        },
        timeout=10,
    ).json()["access_token"]
    assert long_lived == "sim_ll_fb_pat"
    assert _debug(sim, long_lived)["scopes"] == data["scopes"]


def test_a_code_expires_after_ten_minutes(sim: MetaSimulator) -> None:
    now = [1_000_000.0]
    sim.state.login.clock = lambda: now[0]
    code = parse_qs(urlsplit(_answer(_dialog_url(sim))).query)["code"][0]
    now[0] += 601
    answer = _exchange(sim, code)
    assert answer.status_code == 400 and answer.json()["error"]["error_subcode"] == 36007


def test_a_declined_permission_is_asked_again_only_with_rerequest(sim: MetaSimulator) -> None:
    _answer(_dialog_url(sim), untick=("business_management",))
    plain = requests.get(_dialog_url(sim), timeout=10).text
    assert re.findall(r'name="permission" value="([a-z_]+)"', plain) == []
    rerequest = requests.get(_dialog_url(sim, auth_type="rerequest"), timeout=10).text
    assert re.findall(r'name="permission" value="([a-z_]+)"', rerequest) == ["business_management"]
    _answer(_dialog_url(sim, auth_type="rerequest"))
    assert "business_management" in _debug(sim, "sim_fb_pat")["scopes"]


def test_delete_permissions_deauthorises_every_token_of_the_user(sim: MetaSimulator) -> None:
    _answer(_dialog_url(sim))
    deleted = requests.delete(
        f"{sim.url}/v26.0/me/permissions",
        headers={"Authorization": "Bearer sim_ll_fb_pat"},
        timeout=10,
    )
    assert deleted.status_code == 200 and deleted.json() == {"success": True}
    assert sim.state.login.revocations == ["pat"]
    for token in ("sim_fb_pat", "sim_ll_fb_pat"):
        me = requests.get(f"{sim.url}/v26.0/me", params={"access_token": token}, timeout=10)
        assert me.status_code == 400
        assert me.json()["error"]["code"] == 190 and me.json()["error"]["error_subcode"] == 458
        assert _debug(sim, token)["is_valid"] is False
    # another user's token, and tokens that never went through Login, are untouched
    assert requests.get(f"{sim.url}/v26.0/me", params={"access_token": "sim_other"}, timeout=10).ok
    # logging in again authorises the app afresh, asking for every permission
    again = requests.get(_dialog_url(sim), timeout=10).text
    assert re.findall(r'name="permission" value="([a-z_]+)"', again) == SCOPES.split(",")
    _answer(_dialog_url(sim))
    assert _debug(sim, "sim_fb_pat")["is_valid"] is True
