"""The console in a real browser: Debian's Chromium driven by Playwright signs in, opens the
findings list, opens the finding whose command line, paths, container and agent id are attack
strings, checks that no script ran (no dialog, no injected element, the strings shown as text),
archives it and sees it leave the active list. Screenshots go to /tmp for a look.

Chromium comes from the Debian package (``chromium`` in the Makefile's APT_PKGS); a machine
without it fails this test rather than skipping it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Final

import pytest
from playwright.sync_api import BrowserContext, Dialog, Page, sync_playwright

from rtguard.console.render import link

from .conftest import HOSTILE_ID, IMG, JS_URL, SCRIPT, ConsoleEnv

CHROMIUM: Final = Path("/usr/bin/chromium")
ARGS: Final = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS: Final = Path("/tmp/rtguard-console-screenshots")


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrowserContext]:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium package (make sysdeps)")
    profile = tmp_path_factory.mktemp("chromium-profile")
    with sync_playwright() as pw:
        instance = pw.chromium.launch_persistent_context(
            str(profile),  # a fresh profile
            executable_path=str(CHROMIUM),
            headless=True,
            args=ARGS,
            viewport={"width": 1440, "height": 1000},
        )
        try:
            yield instance
        finally:
            instance.close()


def _sign_in(page: Page, env: ConsoleEnv, path: str) -> None:
    page.goto(env.url + path)
    assert page.url.startswith(env.url + "/console/login?next=")
    page.get_by_label("Access key id").fill(env.key_id)
    page.get_by_label("Secret access key").fill(env.secret)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()


def _injected(page: Page) -> int:
    count = page.evaluate(
        "() => document.querySelectorAll('script, img, iframe, [onerror], [onload]').length"
    )
    assert isinstance(count, int)
    return count


def test_browser_signs_in_archives_a_hostile_finding_and_runs_no_script(
    console_env: ConsoleEnv, browser: BrowserContext
) -> None:
    SCREENSHOTS.mkdir(exist_ok=True)
    dialogs: list[str] = []
    page = browser.new_page()
    page.set_default_timeout(10_000)

    def on_dialog(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", on_dialog)
    errors: list[str] = []  # CSP violations and failed loads show up as console errors
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    try:
        _sign_in(page, console_env, "/console/findings")
        assert page.url == console_env.url + "/console/findings"
        # the stylesheet loaded under the CSP: the header has its dark background
        background = page.evaluate(
            "() => getComputedStyle(document.querySelector('header.top')).backgroundColor"
        )
        assert background == "rgb(22, 27, 38)"
        hostile_href = link("/console/finding", id=HOSTILE_ID)
        rows = page.locator("table.grid tbody tr")
        assert rows.count() == 25
        assert page.locator(f'a[href="{hostile_href}"]').count() == 1
        page.screenshot(path=str(SCREENSHOTS / "findings.png"), full_page=True)

        page.locator(f'a[href="{hostile_href}"]').click()
        page.wait_for_load_state()
        assert page.url == console_env.url + hostile_href
        assert _injected(page) == 0
        command = page.locator("tr", has=page.locator("th", has_text="commandLineExample")).locator("td")
        assert command.inner_text() == f"sh -c '{SCRIPT}'\n{IMG} {JS_URL}"  # shown as text, newline kept
        assert page.locator("table.kv td", has_text=f"/tmp/{IMG}").count() >= 1
        assert page.locator("h1").inner_text().endswith("Discovery:Runtime/SuspiciousCommand")
        page.screenshot(path=str(SCREENSHOTS / "finding.png"), full_page=True)

        page.get_by_role("button", name="Archive").click()
        page.wait_for_load_state()
        assert page.get_by_text("Finding archived.").is_visible()
        assert page.get_by_role("button", name="Unarchive").is_visible()
        assert (
            console_env.store.get_findings(console_env.detector, [HOSTILE_ID])[0]["service"]["archived"]
            is True
        )

        page.get_by_role("link", name="Findings", exact=True).first.click()
        page.wait_for_load_state()
        assert page.locator(f'a[href="{hostile_href}"]').count() == 0  # left the active list
        page.get_by_label("Status").select_option("archived")
        page.get_by_role("button", name="Filter").click()
        page.wait_for_load_state()
        assert page.locator(f'a[href="{hostile_href}"]').count() == 1

        for path, name in (
            ("/console/", "overview"),
            ("/console/agents", "agents"),
            ("/console/coverage", "coverage"),
        ):
            page.goto(console_env.url + path)
            assert _injected(page) == 0, path
            page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
            if name == "overview":
                assert page.locator("#dropped-total .n").inner_text() == "12"

        page.get_by_role("button", name="Sign out").click()
        page.wait_for_load_state()
        assert "/console/login" in page.url
        page.goto(console_env.url + "/console/")
        assert page.url.startswith(console_env.url + "/console/login")
        assert dialogs == []
        assert errors == []
    finally:
        page.close()
