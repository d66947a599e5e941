"""The console's usage and audit pages in a real browser, against what the CLI reports for the same server."""

from __future__ import annotations

import re
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests
from playwright.sync_api import Page, expect

from shipshape.domain.sizes import format_size

from .auth_support import Credential, basic_auth, failed
from .console_support import ConsoleWorld, console_world, screenshot
from .support import OciLayoutImage, Skopeo, build_umoci_image, safe_rmtree

pytestmark = pytest.mark.e2e

EXTRA_TAGS = 55  # with the pushes below: more than one page (50) of audit events
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
PHONE = {"width": 390, "height": 844}


@dataclass(frozen=True)
class Stock:
    """What the module pushed: `small` as acme-dev/web/api:v1 and under EXTRA_TAGS more tags, then `large` as
    acme-dev/web/api:v2 (it grew), then `small` as acme-stage/web/api:v1; and two refusals (`_refusals`)."""

    small: OciLayoutImage
    large: OciLayoutImage


@pytest.fixture(scope="module")
def world() -> Iterator[ConsoleWorld]:
    with console_world("ssx-") as world:
        yield world


@pytest.fixture(scope="module")
def stock(world: ConsoleWorld) -> Iterator[Stock]:
    workdir = Path(tempfile.mkdtemp(prefix="ssx-", dir="/tmp"))
    try:
        skopeo = Skopeo(workdir / "sk")
        small = build_umoci_image(workdir / "small", files={"hello.txt": b"hello from the usage page\n"})
        large = build_umoci_image(workdir / "large", files={"hello.txt": b"v2\n"}, random_bytes=300_000)
        acme = world.acme
        skopeo.copy(small.ref, acme.ref("acme-dev/web/api:v1"), "--dest-creds", acme.ci.creds)
        _tag(world, small, "acme-dev/web/api", [f"t{n}" for n in range(EXTRA_TAGS)])
        for image, target in ((large, "acme-dev/web/api:v2"), (small, "acme-stage/web/api:v1")):
            skopeo.copy(image.ref, acme.ref(target), "--dest-creds", acme.ci.creds)
        _refusals(world, small)
        yield Stock(small, large)
    finally:
        safe_rmtree(workdir)


def _tag(world: ConsoleWorld, image: OciLayoutImage, repository: str, tags: list[str]) -> None:
    """Push `image`'s manifest under each of `tags` (its blobs are there already): one audit event each."""
    body = image.blob(image.manifest_digest)
    headers = {**basic_auth(world.acme.ci), "Content-Type": OCI_MANIFEST}
    with requests.Session() as session:
        for tag in tags:
            url = f"{world.url}/v2/{repository}/manifests/{tag}"
            assert session.put(url, data=body, headers=headers, timeout=30).status_code == 201


def _refusals(world: ConsoleWorld, image: OciLayoutImage) -> None:
    """A push the viewer may not make (denied) and a wrong password (failure): the log is not all successes."""
    url, body = world.url, image.blob(image.manifest_digest)
    headers = {**basic_auth(world.viewer), "Content-Type": OCI_MANIFEST}
    refused = requests.put(f"{url}/v2/acme-dev/web/api/manifests/vic", data=body, headers=headers, timeout=30)
    assert refused.status_code == 403
    wrong = Credential(world.owner.username, "not-the-password")
    assert requests.get(f"{url}/v2/", headers=basic_auth(wrong), timeout=30).status_code == 401


@pytest.fixture(autouse=True)
def _server_log_on_failure(request: pytest.FixtureRequest, world: ConsoleWorld) -> Iterator[None]:
    yield
    if failed(request):
        print(f"server logs:\n{world.acme.world.server.log_tail()}")


def cli_usage(world: ConsoleWorld, *scope: str) -> dict[str, Any]:
    report: dict[str, Any] = world.acme.world.admin.json("usage", *(scope or ("--account", "acme")))
    return report


def rows_by(page: Page, table: str, key: str) -> dict[str, dict[str, str]]:
    """Each row of the table `table` (a test id) by its `data-KEY`: the exact bytes, and each cell's text."""
    found: dict[str, dict[str, str]] = {}
    rows = page.get_by_test_id(table).locator("tbody tr")
    for index in range(rows.count()):
        row = rows.nth(index)
        name = row.get_attribute(f"data-{key}")
        assert name is not None
        found[name] = {
            "bytes": row.get_by_test_id("bytes").get_attribute("data-bytes") or "",
            "text": row.inner_text(),
        }
    return found


# usage -----------------------------------------------------------------------------------------------------
def test_usage_shows_each_registry_and_repository_with_the_bytes_the_cli_reports(
    world: ConsoleWorld, stock: Stock
) -> None:
    page = world.page(world.owner)
    page.goto("/ui/usage")
    report = cli_usage(world)
    expect(page.get_by_test_id("percent")).to_have_text(f"{report['percent']}%")
    registries = rows_by(page, "registry-usage", "registry")
    assert set(registries) == {each["name"] for each in report["registries"]}
    for each in report["registries"]:
        shown = registries[each["name"]]
        assert shown["bytes"] == str(each["bytes"])
        assert format_size(each["bytes"]) in shown["text"]
    assert registries["acme-dev"]["bytes"] != "0" and registries["acme-prod"]["bytes"] == "0"
    repositories = rows_by(page, "repository-usage", "repository")
    assert list(repositories) == [each["name"] for each in report["repositories"]]  # largest first, as the CLI
    for each in report["repositories"]:
        assert repositories[each["name"]]["bytes"] == str(each["bytes"])
    link = page.get_by_test_id("repository-usage").get_by_role("link", name="acme-dev/web/api")
    assert link.get_attribute("href") == "/ui/repositories/acme-dev/web/api"
    screenshot(page, "usage")
    page.set_viewport_size(PHONE)
    expect(page.get_by_test_id("registry-usage")).to_be_visible()
    page.screenshot(path=str(Path(tempfile.gettempdir()) / "ssx-usage-phone.png"))
    page.get_by_test_id("history").scroll_into_view_if_needed()
    page.screenshot(path=str(Path(tempfile.gettempdir()) / "ssx-usage-phone-2.png"))


def test_history_chart_has_a_bar_for_today_with_its_size(world: ConsoleWorld, stock: Stock) -> None:
    page = world.page(world.owner)
    page.goto("/ui/usage")
    today = datetime.now(UTC).date().isoformat()
    bar = page.get_by_test_id("history").locator(f"rect[data-day='{today}']")
    expect(bar).to_have_count(1)
    report = cli_usage(world)
    (snapshot,) = [each for each in report["history"] if each["day"] == today]
    assert bar.get_attribute("data-bytes") == str(snapshot["bytes"]) == str(report["used_bytes"])
    assert float(bar.get_attribute("height") or 0) > 0
    expect(bar.locator("title")).to_have_text(f"{today}: {format_size(snapshot['bytes'])}")
    expect(page.get_by_test_id("history").locator("text")).not_to_have_count(0)  # the axes are labelled


def test_largest_images_name_the_pushed_image_with_its_size_and_link_to_it(world: ConsoleWorld, stock: Stock) -> None:
    page = world.page(world.owner)
    page.goto("/ui/usage")
    report = cli_usage(world)
    largest = report["largest_images"][0]
    assert largest["digest"] == stock.large.manifest_digest
    row = page.get_by_test_id("largest-images").locator(f"tbody tr[data-digest='{stock.large.manifest_digest}']")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("acme-dev/web/api")
    expect(row).to_contain_text("v2")
    expect(row.locator("td[data-bytes]")).to_have_text(format_size(largest["size"]))
    row.get_by_role("link", name="acme-dev/web/api").click()
    page.wait_for_url(re.compile(r"/ui/image\?ref="))
    assert page.url.endswith(f"/ui/image?ref=acme-dev/web/api%40{stock.large.manifest_digest.replace(':', '%3A')}")
    page.goto("/ui/usage")
    growth = page.get_by_test_id("growth")
    expect(growth).to_contain_text("acme-dev/web/api")
    grew = report["growth"][0]["grew_by"]
    expect(growth.locator("tbody tr").first).to_contain_text(f"+{format_size(grew)}")


def test_stale_images_follow_the_chosen_number_of_days(world: ConsoleWorld, stock: Stock) -> None:
    page = world.page(world.owner)
    page.goto("/ui/usage")
    expect(page.get_by_test_id("no-stale")).to_contain_text("30 days")  # everything was pushed just now
    page.get_by_label("Stale after (days)").fill("0")
    page.get_by_role("button", name="Show").click()
    page.wait_for_url("**/ui/usage?*unpulled_days=0*")
    stale = page.get_by_test_id("stale-images")
    expected = cli_usage(world, "--account", "acme", "--unpulled-days", "0")["unpulled"]
    expect(stale.locator("tbody tr")).to_have_count(len(expected))
    expect(stale).to_contain_text("never")  # nobody pulled them


def test_registry_scoped_usage_counts_only_that_registry(world: ConsoleWorld, stock: Stock) -> None:
    page = world.page(world.owner)
    page.goto("/ui/usage")
    page.get_by_test_id("registry-usage").get_by_role("link", name="acme-stage", exact=True).click()
    page.wait_for_url("**/ui/usage?registry=acme-stage")
    expect(page.get_by_test_id("scope")).to_have_text("acme-stage")
    report = cli_usage(world, "--registry", "acme-stage")
    expect(page.get_by_test_id("scope-bytes")).to_have_attribute("data-bytes", str(report["bytes"]))
    assert list(rows_by(page, "registry-usage", "registry")) == ["acme-stage"]
    assert list(rows_by(page, "repository-usage", "repository")) == ["acme-stage/web/api"]
    page.goto("/ui/usage?registry=acme-prod")
    expect(page.get_by_test_id("empty-usage")).to_contain_text("/acme-prod/REPOSITORY:TAG")  # how to push


def test_bad_usage_values_answer_a_page_that_says_which(world: ConsoleWorld) -> None:
    page = world.page(world.owner)
    for address, status, words in (
        ("/ui/usage?unpulled_days=-1", 422, "unpulled_days"),
        ("/ui/usage?registry=nowhere", 404, "nowhere"),
        ("/ui/usage?colour=red", 422, "colour"),
    ):
        response = page.goto(address)
        assert response is not None and response.status == status, address
        expect(page.get_by_test_id("error-message")).to_contain_text(words)


# audit -----------------------------------------------------------------------------------------------------
def audit_rows(page: Page) -> list[dict[str, str | None]]:
    rows = page.get_by_test_id("events").locator("tbody tr")
    return [
        {key: rows.nth(i).get_attribute(f"data-{key}") for key in ("action", "result", "registry")}
        for i in range(rows.count())
    ]


def test_audit_log_lists_pushes_and_logins_and_filters_by_action(world: ConsoleWorld, stock: Stock) -> None:
    page = world.page(world.owner)
    page.goto("/ui/audit")
    expect(page.get_by_test_id("events")).to_contain_text("manifest.push")
    filters = page.get_by_test_id("filters")
    filters.get_by_label("Action").select_option("login")
    filters.get_by_role("button", name="Filter").click()
    page.wait_for_url("**/ui/audit?*action=login*")
    logins = audit_rows(page)
    assert logins and {row["action"] for row in logins} == {"login"}
    expect(page.get_by_test_id("events")).to_contain_text(world.acme.ci.username)  # skopeo's login
    expect(page.get_by_test_id("events")).to_contain_text(world.owner.username)  # the console's sign-in
    filters.get_by_label("Action").select_option("manifest.push")
    filters.get_by_label("Actor").fill(world.acme.ci.username)
    filters.get_by_role("button", name="Filter").click()
    page.wait_for_url("**/ui/audit?*action=manifest.push*")
    pushes = audit_rows(page)
    assert len(pushes) == 50 and {row["action"] for row in pushes} == {"manifest.push"}
    expect(page.get_by_test_id("count")).to_contain_text(f"of {3 + EXTRA_TAGS}")
    filters.get_by_label("Actor").fill("")
    filters.get_by_label("Result").select_option("denied")
    filters.get_by_role("button", name="Filter").click()
    page.wait_for_url("**/ui/audit?*result=denied*")
    (denied,) = audit_rows(page)
    assert denied == {"action": "manifest.push", "result": "denied", "registry": "acme-dev"}
    expect(page.get_by_test_id("events").locator(".result-denied")).to_have_text("denied")
    expect(page.get_by_test_id("events")).to_contain_text(world.viewer.username)
    time = page.get_by_test_id("events").locator("time").first
    assert (time.get_attribute("title") or "").startswith(datetime.now(UTC).date().isoformat())


def test_audit_log_filtered_by_registry_shows_only_that_registry(world: ConsoleWorld, stock: Stock) -> None:
    page = world.page(world.owner)
    page.goto("/ui/audit")
    page.get_by_test_id("filters").get_by_label("Registry").select_option("acme-stage")
    page.get_by_test_id("filters").get_by_role("button", name="Filter").click()
    page.wait_for_url("**/ui/audit?registry=acme-stage*")
    rows = audit_rows(page)
    assert rows and {row["registry"] for row in rows} == {"acme-stage"}
    assert [row["action"] for row in rows].count("manifest.push") == 1
    page.goto("/ui/audit?registry=acme-prod&action=manifest.push")
    expect(page.get_by_test_id("no-events")).to_contain_text("Nothing matches these filters")


def test_audit_log_is_paginated_fifty_events_a_page_keeping_the_filters(world: ConsoleWorld, stock: Stock) -> None:
    page = world.page(world.owner)
    page.goto("/ui/audit?action=manifest.push&result=success&since=24h")
    expect(page.get_by_test_id("events").locator("tbody tr")).to_have_count(50)
    expect(page.get_by_role("link", name="← Newer")).to_have_count(0)
    newest_first = page.get_by_test_id("events").locator("time").first.get_attribute("datetime")
    page.get_by_role("link", name="Older →").click()
    page.wait_for_url("**/ui/audit?action=manifest.push&result=success&since=24h&page=2")
    expect(page.get_by_test_id("events").locator("tbody tr")).to_have_count(3 + EXTRA_TAGS - 50)
    expect(page.get_by_role("link", name="Older →")).to_have_count(0)
    total = 3 + EXTRA_TAGS
    expect(page.get_by_test_id("count")).to_have_text(f"Events 51\u2013{total} of {total}, newest first.")
    oldest = page.get_by_test_id("events").locator("time").last.get_attribute("datetime")
    assert oldest is not None and newest_first is not None and oldest <= newest_first
    expect(page.get_by_test_id("filters").get_by_label("Time")).to_have_value("24h")
    page.get_by_role("link", name="← Newer").click()
    page.wait_for_url("**/ui/audit?action=manifest.push&result=success&since=24h&page=1")


def test_bad_audit_values_answer_a_4xx_page_not_a_500(world: ConsoleWorld) -> None:
    page = world.page(world.owner)
    for address, words in (
        ("/ui/audit?since=forever", "since"),
        ("/ui/audit?since=7", "since"),
        ("/ui/audit?page=0", "page"),
        ("/ui/audit?result=maybe", "result"),
        ("/ui/audit?registry=Not_A_Name", "registry"),
    ):
        response = page.goto(address)
        assert response is not None and response.status == 422, address
        expect(page.get_by_test_id("error-message")).to_contain_text(words)


def test_audit_screenshots_at_desktop_and_phone_width(world: ConsoleWorld, stock: Stock) -> None:
    page = world.page(world.owner)
    page.goto("/ui/audit?since=24h")
    expect(page.get_by_test_id("events")).to_be_visible()
    screenshot(page, "audit")
    page.set_viewport_size(PHONE)
    page.screenshot(path=str(Path(tempfile.gettempdir()) / "ssx-audit-phone.png"))


# a viewer --------------------------------------------------------------------------------------------------
def test_a_viewer_sees_the_usage_page_and_is_told_the_audit_log_is_for_owners_and_admins(
    world: ConsoleWorld, stock: Stock
) -> None:
    page = world.page(world.viewer)
    response = page.goto("/ui/usage")
    assert response is not None and response.status == 200
    dev = next(each for each in cli_usage(world)["registries"] if each["name"] == "acme-dev")
    assert rows_by(page, "registry-usage", "registry")["acme-dev"]["bytes"] == str(dev["bytes"])
    expect(page.get_by_role("navigation", name="Main").get_by_role("link", name="Audit log")).to_have_count(0)
    response = page.goto("/ui/audit")
    assert response is not None and response.status == 403
    expect(page.get_by_test_id("audit-refused")).to_contain_text("needs the owner or admin role")
    expect(page.get_by_role("link", name="Usage", exact=True).last).to_be_visible()
    # Opening the page is not an attempt to read the log: no refusal of vic is recorded.
    events = world.acme.world.admin.json("audit", "--account", "acme", "--limit", "1000")
    refusals = [each for each in events if each["actor"] == world.viewer.username]
    assert [each for each in refusals if each["action"] == "audit.read"] == []
