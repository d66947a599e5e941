"""The web console's browser tests: a real `--auth` server with the `acme` account, its members, and Debian's
Chromium driven by Playwright (headless, no sandbox: the tests run as root)."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from playwright.sync_api import Browser, Page, sync_playwright

from .auth_support import Credential, strong_password
from .policy_support import Acme, acme_world
from .support import require_tool

CHROMIUM = "/usr/bin/chromium"
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
DESKTOP = {"width": 1280, "height": 860}
# As the machine's probe starts it: no background traffic (the network is closed), no first-run work.
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
]  # fmt: skip


@dataclass
class ConsoleWorld:
    """`acme` (with `acme-dev`, `acme-stage`, `acme-prod` and a ci credential), its owner `olive` and its viewer
    `vic`, and a browser."""

    acme: Acme
    owner: Credential
    viewer: Credential
    browser: Browser

    @property
    def url(self) -> str:
        return self.acme.url

    def page(self, member: Credential | None = None) -> Page:
        """A new browser context (its own cookies) at desktop width, signed in as `member` unless None."""
        context = self.browser.new_context(viewport=DESKTOP, base_url=self.url)
        context.set_default_timeout(30_000)
        page = context.new_page()
        if member is not None:
            sign_in(page, member)
        return page


def sign_in(page: Page, member: Credential) -> None:
    page.goto("/ui/sign-in")
    page.get_by_label("Username").fill(member.username)
    page.get_by_label("Password").fill(member.secret)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/ui/")


def screenshot(page: Page, name: str) -> Path:
    """Save the page as `docs/screenshots/<name>.png` (the README shows them)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def chromium() -> str:
    """Debian's Chromium: the tests fail (in CI) or skip (elsewhere) without it."""
    if os.path.exists(CHROMIUM):
        return CHROMIUM
    return require_tool("chromium")


@contextlib.contextmanager
def console_world(prefix: str) -> Iterator[ConsoleWorld]:
    executable = chromium()
    require_tool("skopeo")
    with acme_world(prefix) as acme, sync_playwright() as playwright:
        owner = Credential("olive", strong_password())
        viewer = Credential("vic", strong_password())
        for member, role in ((owner, "owner"), (viewer, "viewer")):
            acme.world.admin.run(
                "member", "add", member.username, "--account", "acme", "--role", role, "--password-stdin",
                stdin=member.secret,
            )  # fmt: skip
        browser = playwright.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_ARGS)
        try:
            yield ConsoleWorld(acme, owner, viewer, browser)
        finally:
            browser.close()
