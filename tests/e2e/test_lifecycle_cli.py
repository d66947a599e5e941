"""The storage lifecycle as a team drives it, with real clients: skopeo and containerd pull with their own
credentials and `shipshape image show` says who pulled what; `image list` and `image delete`; retention rules set
from a file, previewed, and run, the run deleting what the preview listed; `gc run` then frees the bytes."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from .auth_support import ShipshapeCli, failed
from .policy_support import Acme, acme_world
from .support import OciLayoutImage, Skopeo, require_tool

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def acme() -> Iterator[Acme]:
    require_tool("skopeo")
    with acme_world("ssl-") as acme:
        yield acme


@pytest.fixture(autouse=True)
def _server_log_on_failure(request: pytest.FixtureRequest, acme: Acme) -> Iterator[None]:
    yield
    if failed(request):
        print(f"server logs:\n{acme.world.server.log_tail()}")


def admin(acme: Acme) -> ShipshapeCli:
    return acme.world.admin


def pipeline(acme: Acme) -> ShipshapeCli:
    """The CLI as CI runs it, with the ci credential (pull, push, delete in every acme registry)."""
    return acme.world.cli("pipeline", acme.ci.username, acme.ci.secret)


def push(skopeo: Skopeo, acme: Acme, image: OciLayoutImage, target: str) -> str:
    skopeo.copy(image.ref, f"docker://{acme.address}/{target}", "--dest-creds", acme.ci.creds)
    inspected = skopeo.run(
        "inspect", "--tls-verify=false", "--creds", acme.ci.creds, f"docker://{acme.address}/{target}"
    )
    return str(json.loads(inspected.stdout)["Digest"])


def test_image_show_names_the_credentials_that_pulled_it(
    acme: Acme, skopeo: Skopeo, make_oci_image: Callable[..., OciLayoutImage], e2e_tmp: Path
) -> None:
    digest = push(skopeo, acme, make_oci_image(files={"app": b"pulled"}), "acme-prod/web/api:v1.4.2")
    cluster = admin(acme).credential("prod-cluster", "acme-prod", "pull")
    for n in range(2):
        skopeo.copy(
            f"docker://{acme.address}/acme-prod/web/api:v1.4.2", f"oci:{e2e_tmp / f'out{n}'}:v1",
            "--src-creds", cluster.creds,
        )  # fmt: skip

    shown = pipeline(acme).json("image", "show", "acme-prod/web/api:v1.4.2")
    table = pipeline(acme).run("image", "show", "acme-prod/web/api:v1.4.2").stdout.decode()

    assert shown["digest"] == digest
    by = {pull["puller"]: pull["count"] for pull in shown["pulls"]}
    assert by["acme-prod+prod-cluster"] == 2
    assert shown["pull_count"] >= 2 and shown["last_pulled"] is not None
    assert "PULLED BY" in table and "acme-prod+prod-cluster" in table


def test_list_delete_retention_and_gc_free_the_bytes(
    acme: Acme, skopeo: Skopeo, make_oci_image: Callable[..., OciLayoutImage], e2e_tmp: Path
) -> None:
    cli, ci = admin(acme), pipeline(acme)
    kept = push(skopeo, acme, make_oci_image(files={"k": b"kept release"}), "acme-dev/shop:v1.0.0")
    doomed = push(skopeo, acme, make_oci_image(files={"d": b"doomed build"}), "acme-dev/shop:build-7")
    by_hand = push(skopeo, acme, make_oci_image(files={"h": b"deleted by hand"}), "acme-dev/shop:pr-3")

    listed = ci.json("image", "list", "acme-dev/shop")
    assert sorted(image["tags"][0] for image in listed) == ["build-7", "pr-3", "v1.0.0"]
    assert "REPOSITORY" in ci.run("image", "list", "acme-dev").stdout.decode()

    deleted = ci.json("image", "delete", "acme-dev/shop:pr-3")
    assert deleted["digest"] == by_hand and deleted["manifest_deleted"]

    rules = e2e_tmp / "rules.yaml"
    rules.write_text(
        "protect-pulled-within: 0s\n"
        "rules:\n"
        "  - {name: keep-releases, action: keep, tags: ['v*'], most-recent: 5}\n"
        "  - {name: expire-builds, action: expire, tags: ['build-*'], pushed-before: 0s}\n"
    )
    cli.run("retention", "set", "acme-dev", str(rules))
    assert "keep-releases" in cli.run("retention", "show", "acme-dev").stdout.decode()
    preview = cli.json("retention", "preview", "acme-dev")
    assert [(c["digest"], c["rule"]) for c in preview["candidates"]] == [(doomed, "expire-builds")]
    ran = cli.json("retention", "run", "acme-dev")
    assert ran["candidates"] == preview["candidates"]

    collected = cli.json("gc", "run", "--grace", "0s")
    assert collected["blobs_deleted"] >= 2  # the two deleted images' own layers (and configs)
    assert collected["bytes_freed"] > 0
    assert [image["digest"] for image in ci.json("image", "list", "acme-dev/shop")] == [kept]
    skopeo.copy(
        f"docker://{acme.address}/acme-dev/shop:v1.0.0", f"oci:{e2e_tmp / 'back'}:v1", "--src-creds", acme.ci.creds
    )
    again = cli.json("gc", "run", "--grace", "0s", "--dry-run")
    assert again["blobs_deleted"] == 0 and again["dry_run"]
