"""The web console in a real browser: signing in and out, the overview, and the walls around every form (the
session cookie, the form token, the Content Security Policy)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from playwright.sync_api import expect

from .auth_support import failed
from .console_support import ConsoleWorld, console_world, screenshot
from .support import OciLayoutImage, Skopeo

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def world() -> Iterator[ConsoleWorld]:
    with console_world("ssw-") as world:
        yield world


@pytest.fixture(autouse=True)
def _server_log_on_failure(request: pytest.FixtureRequest, world: ConsoleWorld) -> Iterator[None]:
    yield
    if failed(request):
        print(f"server logs:\n{world.acme.world.server.log_tail()}")


@pytest.fixture
def pushed(world: ConsoleWorld, skopeo: Skopeo, make_oci_image: Callable[..., OciLayoutImage]) -> OciLayoutImage:
    image = make_oci_image(files={"hello.txt": b"hello from the console test\n"})
    skopeo.copy(image.ref, world.acme.ref("acme-dev/web/api:v1"), "--dest-creds", world.acme.ci.creds)
    return image


def test_sign_in_shows_the_overview_of_the_account_with_each_registry_environment_and_usage(
    world: ConsoleWorld, pushed: OciLayoutImage
) -> None:
    page = world.page(world.owner)
    expect(page.get_by_test_id("who")).to_contain_text("olive · acme · owner")
    rows = page.get_by_test_id("registries").locator("tbody tr")
    expect(rows).to_have_count(3)
    # Development first, production last; each with its environment's badge.
    assert [rows.nth(i).get_attribute("data-registry") for i in range(3)] == ["acme-dev", "acme-stage", "acme-prod"]
    dev = page.locator("tr[data-registry=acme-dev]")
    expect(dev.locator(".env")).to_have_text("development")
    expect(dev.get_by_test_id("images")).to_have_text("1")
    expect(page.locator("tr[data-registry=acme-prod] .env")).to_have_class("env env-production")
    expect(page.get_by_test_id("activity")).to_contain_text("acme-dev/web/api:v1")
    screenshot(page, "overview")


def test_wrong_password_and_machine_credentials_cannot_sign_in(world: ConsoleWorld) -> None:
    page = world.page()
    page.goto("/ui/sign-in")
    page.get_by_label("Username").fill(world.owner.username)
    page.get_by_label("Password").fill("not-the-password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_test_id("error-message")).to_have_text("wrong username or password")
    page.get_by_label("Username").fill(world.acme.ci.username)
    page.get_by_label("Password").fill(world.acme.ci.secret)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_test_id("error-message")).to_contain_text("is a machine credential")
    assert page.context.cookies() == []


def test_a_page_asked_for_before_signing_in_opens_after_it(world: ConsoleWorld) -> None:
    page = world.page()
    page.goto("/ui/usage")
    assert "/ui/sign-in?next=" in page.url
    page.get_by_label("Username").fill(world.viewer.username)
    page.get_by_label("Password").fill(world.viewer.secret)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/ui/usage")


def test_session_cookie_is_http_only_same_site_strict_and_pages_carry_a_content_security_policy(
    world: ConsoleWorld,
) -> None:
    page = world.page(world.viewer)
    (cookie,) = page.context.cookies()
    assert cookie["name"] == "shipshape_session"
    assert cookie["httpOnly"] is True
    assert cookie["sameSite"] == "Strict"
    response = page.goto("/ui/")
    assert response is not None
    policy = response.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy and "unsafe-inline" not in policy
    assert response.headers["x-frame-options"] == "DENY"


def test_a_form_posted_without_its_token_is_refused_and_changes_nothing(world: ConsoleWorld) -> None:
    page = world.page(world.owner)
    page.locator("header form.who input[name=csrf]").evaluate("input => input.remove()")
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_test_id("error-message")).to_contain_text("security token is missing")
    page.goto("/ui/")
    expect(page.get_by_test_id("who")).to_contain_text("olive")  # still signed in


def test_signing_out_ends_the_session_in_the_browser(world: ConsoleWorld) -> None:
    page = world.page(world.owner)
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url("**/ui/sign-in")
    expect(page.get_by_role("status")).to_have_text("You are signed out.")
    page.goto("/ui/")
    assert "/ui/sign-in" in page.url


def test_a_password_change_ends_the_sessions_opened_with_the_old_password(world: ConsoleWorld) -> None:
    from .auth_support import Credential, strong_password

    member = Credential("pat", strong_password())
    admin = world.acme.world.admin
    admin.run("member", "add", "pat", "--account", "acme", "--role", "developer", "--password-stdin",
              stdin=member.secret)  # fmt: skip
    page = world.page(member)
    admin.run("member", "password", "pat", "--password-stdin", stdin=strong_password())
    page.goto("/ui/")
    assert "/ui/sign-in" in page.url


def test_a_new_account_is_told_how_to_create_its_first_registry(world: ConsoleWorld) -> None:
    from .auth_support import ADMIN, Credential

    page = world.page(Credential(ADMIN, world.acme.world.admin_password))  # account `default` has no registries
    empty = page.get_by_test_id("empty-registries")
    expect(empty).to_contain_text("No registries yet")
    expect(empty).to_contain_text("shipshape registry create default-prod --environment production")


def test_the_overview_fits_a_phone_screen(world: ConsoleWorld) -> None:
    page = world.page(world.owner)
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto("/ui/")
    expect(page.get_by_test_id("registries")).to_be_visible()
    overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 0
    screenshot(page, "overview-phone")
