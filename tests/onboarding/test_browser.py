"""A client onboards in a real browser: headless Debian ``chromium`` driven by Playwright.

Link -> "Connect your Facebook ads" -> the (simulated) Facebook Login dialog -> the callback ->
the account and Page picker -> the first sync -> the tenant's data in ``/api/metrics/combined/``.
Every page is photographed on a phone-sized screen; with ``ADINSIGHTS_ONBOARDING_SCREENSHOTS``
set (``docs/evidence``) the pictures land there, otherwise in the test's temporary folder.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
import requests
from playwright.sync_api import Page, expect, sync_playwright

from adinsights_pipelines.defs.meta import connect
from tests.onboarding.conftest import NORTH, OnboardWorld

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PHONE = {"width": 390, "height": 844}
REQUIRED = ("ads_read", "business_management", "pages_read_engagement", "pages_show_list")


def test_a_client_onboards_in_a_real_browser(onboard_world: OnboardWorld, tmp_path: Path) -> None:
    assert Path(CHROMIUM).exists(), "Debian's chromium is needed: apt-get install chromium"
    w = onboard_world
    shots = Path(os.environ.get("ADINSIGHTS_ONBOARDING_SCREENSHOTS") or tmp_path)
    shots.mkdir(parents=True, exist_ok=True)

    def snap(page: Page, name: str) -> None:
        page.screenshot(path=str(shots / f"onboarding-{name}.png"), full_page=True)

    w.sign_in_as(NORTH)
    link = f"{w.api_url}/onboarding/meta/?link={w.link(NORTH)}"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
        )
        try:
            page = browser.new_page(viewport=PHONE)
            page.goto(link)
            expect(page.get_by_role("heading", name="Connect your Facebook ads")).to_be_visible()
            expect(page).to_have_title(re.compile("Connect your Facebook ads"))
            snap(page, "1-landing")
            page.get_by_role("button", name="Continue with Facebook").click()

            # Facebook's dialog: the app, the permissions as labelled checkboxes, Continue/Cancel
            expect(page.get_by_role("heading", name="Continue as north_client?")).to_be_visible()
            expect(page.get_by_text("ADinsights is requesting access to:")).to_be_visible()
            for permission in REQUIRED:
                expect(page.get_by_role("checkbox", name=re.compile(permission))).to_be_checked()
            expect(page.get_by_role("button", name="Cancel")).to_be_visible()
            snap(page, "2-facebook-dialog")
            page.get_by_role("button", name="Continue as north_client").click()

            expect(page.get_by_role("heading", name="Facebook is connected")).to_be_visible()
            assert page.url.startswith(f"{w.api_url}/api/integrations/meta/oauth/callback/")
            snap(page, "3-callback")
            page.get_by_role("link", name="Choose ad accounts and Pages").click()

            expect(page.get_by_role("heading", name="Choose ad accounts and Pages")).to_be_visible()
            accounts = page.get_by_role("group", name="Ad accounts").get_by_role("checkbox")
            expect(accounts).to_have_count(2)
            pages = page.get_by_role("group", name="Facebook Pages").get_by_role("checkbox")
            assert pages.count() >= 1
            # keyboard only: focus the second account and untick it with the space bar
            kept = accounts.nth(0).get_attribute("value")
            accounts.nth(1).focus()
            page.keyboard.press("Space")
            expect(accounts.nth(1)).not_to_be_checked()
            expect(accounts.nth(0)).to_be_checked()
            snap(page, "4-picker")
            page.get_by_role("button", name="Start syncing").click()

            expect(page.get_by_role("heading", name="You're all set")).to_be_visible()
            expect(page.locator("#sync-status")).to_contain_text("Running")
            snap(page, "5-done-syncing")
            connect.wait_for_sync(NORTH, timeout=600)
            page.get_by_role("link", name="Refresh").click()
            expect(page.locator("#sync-status")).to_contain_text("Finished")
            expect(page.get_by_text("Connection status: active")).to_be_visible()
            snap(page, "6-done")
        finally:
            browser.close()

    # the tenant's data, from the chosen account only, is in the combined metrics
    synced = w.scalar(
        "select string_agg(distinct account_id, ',') from raw.meta_insights where tenant_id = :t",
        t=NORTH,
    )
    assert synced == kept
    # the first sync: async report runs, 2 chunks of 7 days x 2 reads (no breakdown, region)
    assert w.report_runs_started(kept) == 4
    combined = requests.get(
        f"{w.api_url}/api/metrics/combined/",
        params={"tenant_id": NORTH, "source": "warehouse"},
        headers=w.operator(),
        timeout=30,
    )
    assert combined.status_code == 200
    payload = combined.json()["payload"]
    assert payload["tenant_id"] == NORTH
    assert [p["platform"] for p in payload["by_platform"]] == ["meta"]
    spend = w.scalar("select sum(spend) from raw.meta_insights where tenant_id = :t", t=NORTH)
    assert sum(float(t["spend"]) for t in payload["totals"]) == pytest.approx(float(spend))
