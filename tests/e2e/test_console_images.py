"""The console's registry, repository and image pages in a real browser, against what skopeo and the CLI see:
tags and digests, policies in words, the checklist, the retention preview, and promoting an image by digest (which
a viewer can neither see nor forge)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from shipshape.domain.sizes import format_size

from .auth_support import failed
from .console_support import ConsoleWorld, console_world, screenshot
from .policy_support import COSIGN_SIGNATURE, sign, tags
from .support import OciLayoutImage, Skopeo

pytestmark = pytest.mark.e2e

PHONE = {"width": 390, "height": 844}
MakeImage = Callable[..., OciLayoutImage]


@pytest.fixture(scope="module")
def world() -> Iterator[ConsoleWorld]:
    with console_world("ssi-") as world:
        yield world


@pytest.fixture(autouse=True)
def _server_log_on_failure(request: pytest.FixtureRequest, world: ConsoleWorld) -> Iterator[None]:
    yield
    if failed(request):
        print(f"server logs:\n{world.acme.world.server.log_tail()}")


def push(world: ConsoleWorld, skopeo: Skopeo, image: OciLayoutImage, reference: str) -> str:
    """Push `image` to `reference` with the ci credential; the digest skopeo then reads back from the registry."""
    skopeo.copy(image.ref, world.acme.ref(reference), "--dest-creds", world.acme.ci.creds)
    return stored_digest(world, skopeo, reference)


def stored_digest(world: ConsoleWorld, skopeo: Skopeo, reference: str) -> str:
    """The digest `skopeo inspect` reads for `reference` from the registry."""
    inspected = skopeo.run(
        "inspect", "--tls-verify=false", "--creds", world.acme.ci.creds, world.acme.ref(reference)
    ).stdout
    return str(json.loads(inspected)["Digest"])


def fits_a_phone(page: Page, shots: Path, name: str) -> None:
    """At 390px nothing is wider than the screen (tables fold, long digests wrap)."""
    page.set_viewport_size(PHONE)
    page.reload()
    overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    page.screenshot(path=str(shots / f"{name}-phone.png"), full_page=True)
    assert overflow <= 0, f"{name} is {overflow}px wider than a phone"


def test_repository_page_lists_each_tag_with_the_digest_skopeo_sees_and_who_pushed_it(
    world: ConsoleWorld, skopeo: Skopeo, make_oci_image: MakeImage, tmp_path: Path
) -> None:
    first, second = make_oci_image(files={"a": b"web one"}), make_oci_image(files={"b": b"web two"})
    one = push(world, skopeo, first, "acme-stage/web/api:v1.0.0")
    two = push(world, skopeo, second, "acme-stage/web/api:v1.1.0")
    assert (one, two) == (first.manifest_digest, second.manifest_digest)

    page = world.page(world.owner)
    page.goto("/ui/repositories/acme-stage/web/api")
    rows = page.get_by_test_id("tags").locator("tbody tr")
    expect(rows).to_have_count(2)
    assert [rows.nth(i).get_attribute("data-tag") for i in range(2)] == ["v1.1.0", "v1.0.0"]  # newest first
    for tag, digest in (("v1.0.0", one), ("v1.1.0", two)):
        row = page.locator(f"tr[data-tag='{tag}']")
        assert row.get_attribute("data-digest") == digest
        expect(row.locator("button.copy")).to_have_attribute("data-copy", digest)
        expect(row.locator("code")).to_have_text(digest[:19])  # sha256: and 12 hex characters
        expect(row.get_by_test_id("origin")).to_contain_text(f"pushed by {world.acme.ci.username}")
        expect(row.get_by_test_id("immutable")).to_be_visible()  # staging: every tag is immutable
    pull = page.get_by_test_id("pull-lines")
    expect(pull).to_contain_text(f"podman pull --tls-verify=false {world.acme.address}/acme-stage/web/api:v1.1.0")
    expect(pull).to_contain_text(f"docker pull {world.acme.address}/acme-stage/web/api:v1.1.0")
    expect(page.get_by_test_id("untagged")).to_contain_text("None")
    screenshot(page, "repository")

    page.locator("tr[data-tag='v1.0.0'] a").first.click()
    page.wait_for_url(re.compile(r"/ui/image\?ref="))
    expect(page.get_by_test_id("digest").locator("button.copy")).to_have_attribute("data-copy", one)
    expect(page.get_by_test_id("layers").locator("tbody tr")).to_have_count(1 + len(first.layer_digests))
    expect(page.get_by_test_id("provenance")).to_contain_text("built by CI")
    fits_a_phone(page, tmp_path, "image-staging")


def test_a_moved_tag_leaves_its_old_image_untagged_and_a_signature_shows_on_the_image_not_in_the_list(
    world: ConsoleWorld, skopeo: Skopeo, make_oci_image: MakeImage, e2e_tmp: Path
) -> None:
    old = push(world, skopeo, make_oci_image(files={"o": b"old build"}), "acme-dev/tools:dev")
    new = push(world, skopeo, make_oci_image(files={"n": b"new build"}), "acme-dev/tools:dev")
    signature = sign(world.acme, "acme-dev/tools", new, world.acme.ci, e2e_tmp / "sig")

    page = world.page(world.owner)
    page.goto("/ui/repositories/acme-dev/tools")
    expect(page.locator("tr[data-tag='dev']")).to_have_attribute("data-digest", new)
    expect(page.get_by_test_id("immutable")).to_have_count(0)  # development: tags move
    untagged = page.get_by_test_id("untagged").locator("tbody tr")
    expect(untagged).to_have_count(1)  # the signature is the image's, not an untagged image
    expect(untagged).to_have_attribute("data-digest", old)

    page.locator("tr[data-tag='dev'] a").first.click()
    referrers = page.get_by_test_id("referrers")
    expect(referrers.locator("h3")).to_contain_text(f"Signature {COSIGN_SIGNATURE}")
    expect(referrers.locator("a")).to_have_attribute("href", re.compile(signature.replace(":", "(:|%3A)")))


def test_registry_page_shows_the_environment_policies_in_words_credentials_and_checklist(world: ConsoleWorld) -> None:
    page = world.page(world.owner)
    page.goto("/ui/registries/acme-prod")
    banner = page.get_by_test_id("banner")
    expect(banner.locator(".env")).to_have_text("production")
    expect(banner).to_contain_text("workloads run what is here")
    policy = page.get_by_test_id("policy")
    expect(policy).to_contain_text("Tags are immutable")
    expect(policy).to_contain_text("latest, dev, test and stable are refused")
    expect(policy.locator("code").first).to_have_text("latest")
    expect(policy).to_contain_text("Tags must look like a version (v1.2.3)")
    expect(policy).to_contain_text("Only CI credentials may push; promotions from staging registries are accepted")
    expect(page.get_by_test_id("credentials").locator(f"[data-credential='{world.acme.ci.username}']")).to_be_visible()

    checklist = page.locator("#checklist")
    expect(checklist.locator(".check-item")).to_have_count(6)
    pull_secret = checklist.locator("[data-item=pull-secret]")  # no pull credential reaches acme-prod yet
    expect(pull_secret).to_have_class(re.compile("failed"))
    expect(pull_secret.locator(".evidence")).not_to_be_empty()
    expect(pull_secret.locator(".fix")).to_contain_text("shipshape ")
    expect(checklist.locator("[data-item=immutable-tags]")).to_have_class(re.compile("passed"))
    expect(page.get_by_test_id("retention-nothing")).to_be_visible()  # the preset's rules, nothing to expire

    # Nothing has reached production yet (the promotion test runs later): the first push, in words.
    expect(page.get_by_test_id("empty-repositories")).to_contain_text(
        f"podman push --tls-verify=false IMAGE {world.acme.address}/acme-prod/"
    )


def test_retention_preview_on_the_registry_page_is_what_the_cli_previews(
    world: ConsoleWorld, skopeo: Skopeo, make_oci_image: MakeImage, e2e_tmp: Path, tmp_path: Path
) -> None:
    push(world, skopeo, make_oci_image(files={"r": b"release"}), "acme-dev/shop:v1.0.0")
    doomed = {push(world, skopeo, make_oci_image(files={"b": f"build {n}".encode()}), f"acme-dev/shop:build-{n}")
              for n in (1, 2)}  # fmt: skip
    rules = e2e_tmp / "rules.yaml"
    rules.write_text(
        "protect-pulled-within: 0s\n"
        "rules:\n"
        "  - {name: keep-releases, action: keep, tags: ['v*'], most-recent: 5}\n"
        "  - {name: expire-builds, action: expire, tags: ['build-*'], pushed-before: 0s}\n"
    )
    admin = world.acme.world.admin
    admin.run("retention", "set", "acme-dev", str(rules))
    preview = admin.json("retention", "preview", "acme-dev", "--json")
    assert {c["digest"] for c in preview["candidates"]} == doomed

    page = world.page(world.owner)
    page.goto("/ui/registries/acme-dev")
    table = page.get_by_test_id("retention-candidates")
    shown = table.locator("tbody tr")
    expect(shown).to_have_count(len(preview["candidates"]))
    for candidate in preview["candidates"]:
        row = table.locator(f"tr[data-digest='{candidate['digest']}']")
        expect(row).to_contain_text(candidate["repository"])
        expect(row).to_contain_text(candidate["tags"][0])
        expect(row).to_contain_text("expire-builds")
    expect(page.get_by_test_id("retention-bytes")).to_have_text(format_size(preview["bytes"]))
    expect(page.locator("#checklist [data-item=retention-policy]")).to_have_class(re.compile("passed"))

    # Search on the server, and the live filter as one types.
    repositories = page.get_by_test_id("repositories")
    expect(repositories.locator("tr[data-repository='acme-dev/shop']")).to_be_visible()
    search = page.get_by_placeholder("Search repositories")
    search.fill("tool")
    expect(repositories.locator("tr[data-repository='acme-dev/shop']")).to_be_hidden()
    expect(repositories.locator("tr[data-repository='acme-dev/tools']")).to_be_visible()
    search.fill("")
    screenshot(page, "registry")
    page.goto("/ui/registries/acme-dev?q=sho")
    expect(page.get_by_test_id("repositories").locator("tbody tr")).to_have_count(1)
    fits_a_phone(page, tmp_path, "registry")


def test_promoting_through_the_console_makes_the_same_digest_available_in_production(
    world: ConsoleWorld, skopeo: Skopeo, make_oci_image: MakeImage, tmp_path: Path
) -> None:
    image = make_oci_image(files={"p": b"release candidate"})
    digest = push(world, skopeo, image, "acme-stage/pay:v2.0.0")

    page = world.page(world.owner)
    page.goto("/ui/repositories/acme-stage/pay")
    page.locator("tr[data-tag='v2.0.0'] a").first.click()
    form = page.get_by_test_id("promote-form")
    target = form.get_by_label("Target registry")
    expect(target.locator("option")).to_have_count(1)  # staging promotes to production only
    target.select_option("acme-prod")
    expect(page.get_by_test_id("target-policy")).to_contain_text("Only CI credentials may push")
    expect(form.get_by_label("Repository")).to_have_value("pay")
    expect(form.get_by_label("Tag")).to_have_value("v2.0.0")
    screenshot(page, "image")
    form.get_by_role("button", name="Promote").click()

    page.wait_for_url(re.compile(r"/ui/image\?ref=acme-prod"))
    expect(page.get_by_role("status")).to_contain_text(
        f"Promoted acme-stage/pay@{digest} to acme-prod/pay:v2.0.0 (same digest {digest[:19]}"
    )
    expect(page.get_by_test_id("digest").locator("button.copy")).to_have_attribute("data-copy", digest)
    expect(page.get_by_test_id("provenance")).to_contain_text(f"Promoted by {world.owner.username}")
    expect(page.get_by_test_id("promoted-from")).to_have_text("acme-stage/pay")
    expect(page.get_by_test_id("banner").locator(".env")).to_have_text("production")
    assert stored_digest(world, skopeo, "acme-prod/pay:v2.0.0") == digest
    fits_a_phone(page, tmp_path, "image")
    page.set_viewport_size({"width": 1280, "height": 860})
    page.goto("/ui/repositories/acme-prod/pay")
    fits_a_phone(page, tmp_path, "repository")


def test_a_viewer_sees_no_promote_form_and_a_forged_promotion_is_refused(
    world: ConsoleWorld, skopeo: Skopeo, make_oci_image: MakeImage
) -> None:
    push(world, skopeo, make_oci_image(files={"v": b"not for viewers"}), "acme-stage/ledger:v3.0.0")
    page = world.page(world.viewer)
    page.goto("/ui/image?ref=acme-stage/ledger:v3.0.0")
    expect(page.get_by_test_id("provenance")).to_be_visible()
    expect(page.get_by_test_id("promote")).to_have_count(0)
    expect(page.locator("form[action='/ui/promote']")).to_have_count(0)

    token = page.locator("header form.who input[name=csrf]").get_attribute("value")
    assert token
    forged = page.request.post(
        "/ui/promote",
        form={"csrf": token, "source": "acme-stage/ledger:v3.0.0", "target": "acme-prod/ledger:v3.0.0"},
        max_redirects=0,
    )
    assert forged.status == 403, forged.text()
    assert "vic" in forged.text() and "push" in forged.text()
    assert tags(world.acme, "acme-prod/ledger", world.acme.ci) is None
    assert skopeo.run(
        "inspect", "--tls-verify=false", "--creds", world.acme.ci.creds, world.acme.ref("acme-prod/ledger:v3.0.0"),
        check=False,
    ).returncode != 0  # fmt: skip
