"""The console's credentials page in a real browser, checked with real clients: a credential made in the form logs
podman in with the secret the page showed once; rotation (with and without a grace window), reset and revocation
change what podman may do; a pull credential's Kubernetes YAML logs in too; viewers and forged forms change
nothing."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from .auth_support import Credential, LoginPodman, failed, output, parse_pull_secret_yaml
from .console_support import ConsoleWorld, console_world, screenshot

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def world() -> Iterator[ConsoleWorld]:
    with console_world("ssc-") as world:
        yield world


@pytest.fixture(autouse=True)
def _server_log_on_failure(request: pytest.FixtureRequest, world: ConsoleWorld) -> Iterator[None]:
    yield
    if failed(request):
        print(f"server logs:\n{world.acme.world.server.log_tail()}")


@pytest.fixture
def podman(e2e_tmp: Path) -> LoginPodman:
    return LoginPodman(e2e_tmp / "pm")


@pytest.fixture
def owner_page(world: ConsoleWorld) -> Page:
    """The owner's page, which accepts every confirmation a form asks for."""
    page = world.page(world.owner)
    page.on("dialog", lambda dialog: dialog.accept())
    return page


def create_in_form(
    page: Page,
    name: str,
    kind: str = "ci",
    registries: tuple[str, ...] = ("acme-dev",),
    expires_in: str = "",
) -> Credential:
    """Fill in and send the create form; the username and the secret the next page shows."""
    page.goto("/ui/credentials")
    form = page.get_by_test_id("create-credential")
    form.get_by_label("Name").fill(name)
    for registry in registries:
        form.locator(f"input[name=registries][value={registry}]").check()
    form.locator(f"input[name=kind][value={kind}]").check()
    form.get_by_label("Expires in").fill(expires_in)
    form.get_by_role("button", name="Create credential").click()
    username = f"{registries[0]}+{name}"
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Credential {username} created")
    return Credential(username, shown_secret(page))


def shown_secret(page: Page) -> str:
    secret = page.get_by_test_id("secret").inner_text().strip()
    assert secret.startswith("shps_"), secret
    return secret


def manage(page: Page, username: str, button: str, grace: str | None = None) -> str:
    """Open the credential's row, press `button` (confirming it); for rotate and reset, the new secret shown."""
    page.goto("/ui/credentials")
    row = page.locator(f"tr[data-credential='{username}']")
    row.locator("summary").click()
    if grace is not None:
        row.get_by_label("Grace window").fill(grace)
    row.get_by_role("button", name=button, exact=True).click()
    if button == "Revoke":
        expect(page.get_by_role("status")).to_contain_text(f"{username} is revoked")
        return ""
    expect(page.get_by_test_id("issued")).to_be_visible()
    return shown_secret(page)


def logs_in(podman: LoginPodman, world: ConsoleWorld, credential: Credential) -> bool:
    result = podman.login(world.acme.address, credential, check=False)
    if result.returncode != 0:
        assert "invalid username/password" in output(result), output(result)  # refused, not unreachable
    return result.returncode == 0


def listed(world: ConsoleWorld) -> dict[str, dict[str, object]]:
    return {str(c["username"]): c for c in world.acme.world.admin.json("credential", "list", "--account", "acme")}


def test_a_credential_made_in_the_form_logs_in_with_podman_and_its_secret_is_shown_only_once(
    world: ConsoleWorld, owner_page: Page, podman: LoginPodman
) -> None:
    page = owner_page
    web = create_in_form(page, "web-ci", registries=("acme-dev", "acme-stage"), expires_in="30d")
    host = world.acme.address
    expect(page.get_by_test_id("login-command")).to_have_text(
        f"podman login --tls-verify=false {host} -u {web.username} --password-stdin"
    )
    expect(page.get_by_text("This is the only time the secret is shown.")).to_be_visible()
    expect(page.get_by_test_id("pull-secret")).to_have_count(0)  # a ci credential: no Kubernetes YAML
    screenshot(page, "credential-created")
    # The line as shown, pasted into a shell with the secret on standard input.
    shown = page.get_by_test_id("login-command").inner_text().split()
    assert shown[0] == "podman"
    podman.run(*shown[1:], "--authfile", str(podman.authfile), stdin=web.secret.encode())
    assert listed(world)[web.username]["kind"] == "ci"

    page.get_by_test_id("done").click()
    row = page.locator(f"tr[data-credential='{web.username}']")
    expect(row).to_contain_text("pull and push in acme-dev, acme-stage")
    expect(row.get_by_test_id("state")).to_have_text("active")
    expect(row.get_by_test_id("expires")).to_contain_text("in 29 days")
    expect(row.get_by_test_id("last-used")).to_have_text("just now")  # podman logged in with it
    assert web.secret not in page.content()
    page.go_back()
    assert web.secret not in page.content()
    page.reload()
    assert web.secret not in page.content()


def test_rotation_keeps_the_old_secret_for_its_grace_window_and_a_zero_grace_ends_it_at_once(
    world: ConsoleWorld, owner_page: Page, podman: LoginPodman
) -> None:
    page = owner_page
    first = create_in_form(page, "rotated")
    second = Credential(first.username, manage(page, first.username, "Rotate"))
    expect(page.get_by_test_id("grace")).to_contain_text("The previous secret keeps working until")
    assert second.secret != first.secret
    assert logs_in(podman, world, second)
    assert logs_in(podman, world, first)  # in its 24h grace window
    page.get_by_test_id("done").click()
    row = page.locator(f"tr[data-credential='{first.username}']")
    expect(row.get_by_test_id("state")).to_contain_text("rotating")
    expect(row.get_by_test_id("state")).to_contain_text("old secret works until in 23 hours")

    third = Credential(first.username, manage(page, first.username, "Rotate", grace="0"))
    expect(page.get_by_test_id("grace")).to_have_text("The previous secret stopped working at once (no grace window).")
    assert logs_in(podman, world, third)
    assert not logs_in(podman, world, second)


def test_reset_ends_every_old_secret_at_once(world: ConsoleWorld, owner_page: Page, podman: LoginPodman) -> None:
    page = owner_page
    first = create_in_form(page, "reset-me")
    second = Credential(first.username, manage(page, first.username, "Rotate"))  # first: in its grace window
    third = Credential(first.username, manage(page, first.username, "Reset"))
    expect(page.get_by_test_id("grace")).to_have_text("Every old secret stopped working at once.")
    assert logs_in(podman, world, third)
    assert not logs_in(podman, world, second)
    assert not logs_in(podman, world, first)


def test_a_revoked_credential_cannot_log_in_and_is_listed_last_without_buttons(
    world: ConsoleWorld, owner_page: Page, podman: LoginPodman
) -> None:
    page = owner_page
    gone = create_in_form(page, "short-lived", registries=("acme-prod",))
    assert logs_in(podman, world, gone)
    manage(page, gone.username, "Revoke")
    assert not logs_in(podman, world, gone)
    row = page.locator(f"tr[data-credential='{gone.username}']")
    expect(row).to_have_class("revoked")
    expect(row.get_by_test_id("state")).to_contain_text("revoked")
    expect(row.locator("summary")).to_have_count(0)
    states = page.locator("table[data-testid=credentials] tbody tr").evaluate_all(
        "rows => rows.map(row => row.dataset.state)"
    )
    assert "revoked" not in states[: states.index("revoked")] and set(states[states.index("revoked") :]) == {"revoked"}
    assert listed(world)[gone.username]["state"] == "revoked"


def test_a_pull_credential_comes_with_kubernetes_yaml_that_logs_in(
    world: ConsoleWorld, owner_page: Page, podman: LoginPodman
) -> None:
    page = owner_page
    puller = create_in_form(page, "cluster", kind="pull", registries=("acme-prod",))
    yaml = page.get_by_test_id("pull-secret-yaml").inner_text()
    secret = parse_pull_secret_yaml(yaml)
    assert (secret.secret_type, secret.namespace, secret.secret_name) == (
        "kubernetes.io/dockerconfigjson",
        "default",
        "acme-prod-pull",
    )
    assert secret.image_pull_secrets == ["acme-prod-pull"] and secret.service_account == "default"
    assert secret.login(world.acme.address) == puller
    assert logs_in(podman, world, secret.login(world.acme.address))

    # The same credential's pull secret for another namespace, from the form on the page.
    page.get_by_label("Namespace").fill("web-prod")
    page.get_by_role("button", name="Make its pull secret").click()
    other = parse_pull_secret_yaml(page.get_by_test_id("pull-secret-yaml").inner_text())
    assert other.namespace == "web-prod" and other.login(world.acme.address) == puller


def test_a_pull_secret_for_a_namespace_comes_with_a_new_pull_only_credential(
    world: ConsoleWorld, owner_page: Page, podman: LoginPodman
) -> None:
    page = owner_page
    page.goto("/ui/credentials")
    form = page.get_by_test_id("create-pull-secret")
    form.get_by_label("Registry").select_option("acme-stage")
    form.get_by_label("Namespace").fill("batch")
    form.get_by_role("button", name="Make pull secret").click()
    expect(page.get_by_role("status")).to_contain_text("acme-stage+k8s-batch")
    login = parse_pull_secret_yaml(page.get_by_test_id("pull-secret-yaml").inner_text()).login(world.acme.address)
    assert login.username == "acme-stage+k8s-batch"
    assert logs_in(podman, world, login)
    assert listed(world)[login.username]["kind"] == "pull"


def test_a_viewer_sees_no_create_form_nor_buttons_and_a_forged_post_creates_nothing(world: ConsoleWorld) -> None:
    page = world.page(world.viewer)
    page.goto("/ui/credentials")
    expect(page.get_by_test_id("credentials-refused")).to_contain_text("vic is a viewer of account 'acme'")
    expect(page.get_by_test_id("create-credential")).to_have_count(0)
    expect(page.get_by_role("button", name="Rotate")).to_have_count(0)
    expect(page.get_by_text(world.acme.ci.username)).to_have_count(0)
    token = page.locator("header form.who input[name=csrf]").input_value()
    forged = {"csrf": token, "name": "forged", "registries": "acme-dev", "kind": "ci"}
    response = page.request.post("/ui/credentials", form=forged)
    assert response.status == 403, response.text()
    assert "needs the owner or admin role" in response.text()
    response = page.request.post(f"/ui/credentials/{world.acme.ci.username}/revoke", form={"csrf": token})
    assert response.status == 403, response.text()
    credentials = listed(world)
    assert "acme-dev+forged" not in credentials and credentials[world.acme.ci.username]["state"] != "revoked"


def test_a_create_form_without_its_token_is_refused_and_creates_nothing(world: ConsoleWorld, owner_page: Page) -> None:
    page = owner_page
    page.goto("/ui/credentials")
    form = page.get_by_test_id("create-credential")
    form.get_by_label("Name").fill("tokenless")
    form.locator("input[name=registries][value=acme-dev]").check()
    form.locator("input[name=csrf]").evaluate("input => input.remove()")
    with page.expect_response(lambda response: response.request.method == "POST") as answer:
        form.get_by_role("button", name="Create credential").click()
    assert answer.value.status == 403
    expect(page.get_by_test_id("error-message")).to_contain_text("security token is missing")
    assert "acme-dev+tokenless" not in listed(world)


def test_a_form_the_api_would_refuse_is_refused_with_the_api_s_message(world: ConsoleWorld, owner_page: Page) -> None:
    page = owner_page
    page.goto("/ui/credentials")
    form = page.get_by_test_id("create-credential")
    form.get_by_label("Name").fill("unitless")
    form.locator("input[name=registries][value=acme-dev]").check()
    form.get_by_label("Expires in").fill("30")
    with page.expect_response(lambda response: response.request.method == "POST") as answer:
        form.get_by_role("button", name="Create credential").click()
    assert answer.value.status == 422
    expect(page.get_by_test_id("error-message")).to_have_text("expires_in: 30: give a unit, e.g. 30d, 30h, 30m or 30s")
    assert "acme-dev+unitless" not in listed(world)


def test_an_unknown_action_on_a_credential_is_not_found(world: ConsoleWorld, owner_page: Page) -> None:
    token = owner_page.locator("header form.who input[name=csrf]").input_value()
    response = owner_page.request.post(f"/ui/credentials/{world.acme.ci.username}/explode", form={"csrf": token})
    assert response.status == 404


def test_a_credential_expiring_within_two_weeks_is_flagged(owner_page: Page) -> None:
    page = owner_page
    soon = create_in_form(page, "soon", kind="service", registries=("acme-stage",), expires_in="7d")
    page.get_by_test_id("done").click()
    row = page.locator(f"tr[data-credential='{soon.username}']")
    expect(row).to_contain_text("pull in acme-stage")  # a service credential's default
    expect(row.get_by_test_id("expires")).to_have_text("in 6 days ⚠ expires soon: rotate it with a new expiry")
    expect(row.get_by_test_id("last-used")).to_have_text("never used: revoke it if nothing needs it")


def test_the_list_reads_well_at_desktop_and_phone_width(world: ConsoleWorld, owner_page: Page) -> None:
    """The list with a credential in each state (made here: the tests may run in any order, on any worker)."""
    page = owner_page
    rotating = create_in_form(page, "shown-rotating", registries=("acme-stage",))
    manage(page, rotating.username, "Rotate")
    revoked = create_in_form(page, "shown-revoked", registries=("acme-stage",))
    manage(page, revoked.username, "Revoke")
    create_in_form(page, "shown-pull", kind="pull", registries=("acme-prod",))
    page.goto("/ui/credentials")
    rows = page.locator("table[data-testid=credentials] tbody tr")
    expect(rows.first).to_be_visible()
    states = set(rows.evaluate_all("rows => rows.map(row => row.dataset.state)"))
    assert {"active", "rotating", "revoked"} <= states, states
    expect(page.locator("tr[data-credential='acme-dev+ci'] [data-testid=last-used]")).to_contain_text("never used")
    page.locator(f"tr[data-credential='{rotating.username}'] summary").click()
    screenshot(page, "credentials")
    page.set_viewport_size({"width": 390, "height": 844})
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), "the page scrolls sideways"
