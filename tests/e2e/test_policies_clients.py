"""Registry policies as real clients meet them, on a server with authentication on: podman and skopeo pushes that a
policy refuses fail with the server's own message (the rule and the fix) on their stderr, and the same pushes
succeed where the policy allows them."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests

from .auth_support import Credential, LoginPodman, basic_auth, failed, output, strong_password
from .policy_support import COSIGN_SIGNATURE, Acme, acme_world, get_manifest, referrers, sign, tags
from .support import OciLayoutImage, Skopeo, require_tool

pytestmark = pytest.mark.e2e

# `acme-signed` is a second production registry whose policy the signature test changes.
SIGNED = "acme-signed"


@pytest.fixture(scope="module")
def acme() -> Iterator[Acme]:
    require_tool("skopeo")
    with acme_world("ssq-", extra_registries=((SIGNED, "production"),)) as acme:
        yield acme


@pytest.fixture(autouse=True)
def _server_log_on_failure(request: pytest.FixtureRequest, acme: Acme) -> Iterator[None]:
    yield
    if failed(request):
        print(f"server logs:\n{acme.world.server.log_tail()}")


def _push(skopeo: Skopeo, acme: Acme, image: OciLayoutImage, target: str, credential: Credential) -> tuple[int, str]:
    """`skopeo copy oci:… docker://…/target` with `credential`: its exit code and its standard error."""
    copied = skopeo.copy(image.ref, acme.ref(target), "--dest-creds", credential.creds, check=False)
    return copied.returncode, copied.stderr.decode(errors="replace")


def _inspect_digest(skopeo: Skopeo, acme: Acme, image: str) -> str:
    inspected = skopeo.run("inspect", "--tls-verify=false", "--creds", acme.ci.creds, acme.ref(image))
    return str(json.loads(inspected.stdout)["Digest"])


def _build_with_podman(podman: LoginPodman, context: Path, ref: str) -> None:
    (context / "app").mkdir(parents=True)
    (context / "app" / "hello.txt").write_text(f"hello {os.urandom(8).hex()}\n")
    (context / "Containerfile").write_text('FROM scratch\nCOPY app/ /app/\nCMD ["/app/hello.txt"]\n')
    podman.run("build", "--isolation", "chroot", "-t", ref, str(context))


# --------------------------------------------------------------------------------------------------
# tag names


def test_podman_push_of_latest_is_refused_in_production_with_the_fix_and_accepted_in_development(
    acme: Acme, e2e_tmp: Path
) -> None:
    podman = LoginPodman(e2e_tmp / "pm")
    podman.login(acme.address, acme.ci)
    production = f"{acme.address}/acme-prod/podman:latest"
    development = f"{acme.address}/acme-dev/podman:latest"
    _build_with_podman(podman, e2e_tmp / "ctx", production)

    refused = podman.run("push", "--tls-verify=false", production, check=False)
    podman.run("tag", production, development)
    digest_file = e2e_tmp / "pushed.digest"
    podman.run("push", "--tls-verify=false", "--digestfile", str(digest_file), development)

    assert refused.returncode != 0
    stderr = refused.stderr.decode(errors="replace")
    assert "denied: tag 'latest' is not allowed in production registry acme-prod: use a tag such as v1.2.3" in stderr
    assert tags(acme, "acme-prod/podman", acme.ci) in (None, [])
    pushed = digest_file.read_text().strip()
    served = get_manifest(acme, "acme-dev/podman", "latest", acme.ci)
    assert served.status_code == 200
    assert served.headers["Docker-Content-Digest"] == pushed


def test_skopeo_copy_of_latest_is_refused_in_production_with_the_fix_and_accepted_in_development(
    acme: Acme, skopeo: Skopeo, make_oci_image: Callable[..., OciLayoutImage]
) -> None:
    image = make_oci_image()

    refused, message = _push(skopeo, acme, image, "acme-prod/skopeo:latest", acme.ci)
    accepted, _ = _push(skopeo, acme, image, "acme-dev/skopeo:latest", acme.ci)

    assert refused != 0
    assert "denied: tag 'latest' is not allowed in production registry acme-prod: use a tag such as v1.2.3" in message
    assert tags(acme, "acme-prod/skopeo", acme.ci) in (None, [])
    assert accepted == 0
    assert _inspect_digest(skopeo, acme, "acme-dev/skopeo:latest") == image.manifest_digest


# --------------------------------------------------------------------------------------------------
# immutable tags


@pytest.mark.parametrize(("registry", "environment"), [("acme-prod", "production"), ("acme-stage", "staging")])
def test_an_immutable_tag_does_not_move_but_the_same_image_can_be_pushed_again(
    acme: Acme, skopeo: Skopeo, make_oci_image: Callable[..., OciLayoutImage], registry: str, environment: str
) -> None:
    first, other = make_oci_image(), make_oci_image()
    repository = f"{registry}/immutable"
    assert first.manifest_digest != other.manifest_digest

    pushed, _ = _push(skopeo, acme, first, f"{repository}:v1.0.0", acme.ci)
    moved, message = _push(skopeo, acme, other, f"{repository}:v1.0.0", acme.ci)
    again, _ = _push(skopeo, acme, first, f"{repository}:v1.0.0", acme.ci)  # a CI retry

    assert pushed == 0
    assert moved != 0
    assert (
        f"denied: tag 'v1.0.0' of {repository} is immutable in {environment} registry {registry} and points at"
        f" {first.manifest_digest}: push this image under a new tag (for example the next version) instead of"
        " moving 'v1.0.0'"
    ) in message, message
    assert again == 0
    assert _inspect_digest(skopeo, acme, f"{repository}:v1.0.0") == first.manifest_digest
    assert tags(acme, repository, acme.ci) == ["v1.0.0"]


def test_a_tag_moves_freely_in_development(
    acme: Acme, skopeo: Skopeo, make_oci_image: Callable[..., OciLayoutImage]
) -> None:
    first, other = make_oci_image(), make_oci_image()

    pushed, _ = _push(skopeo, acme, first, "acme-dev/mutable:v1.0.0", acme.ci)
    moved, _ = _push(skopeo, acme, other, "acme-dev/mutable:v1.0.0", acme.ci)

    assert (pushed, moved) == (0, 0)
    assert _inspect_digest(skopeo, acme, "acme-dev/mutable:v1.0.0") == other.manifest_digest


def test_an_immutable_tag_and_its_manifest_cannot_be_deleted_over_http(
    acme: Acme, skopeo: Skopeo, make_oci_image: Callable[..., OciLayoutImage]
) -> None:
    """The DELETEs skopeo would send (tag and digest), with the ci credential's delete right, by Basic auth."""
    image = make_oci_image()
    assert _push(skopeo, acme, image, "acme-prod/keep:v1.0.0", acme.ci)[0] == 0

    answers = {
        reference: requests.delete(
            f"{acme.url}/v2/acme-prod/keep/manifests/{reference}", headers=basic_auth(acme.ci), timeout=30
        )
        for reference in ("v1.0.0", image.manifest_digest)
    }

    by_tag, by_digest = (answers[r].json()["errors"][0] for r in ("v1.0.0", image.manifest_digest))
    assert {r: a.status_code for r, a in answers.items()} == {"v1.0.0": 403, image.manifest_digest: 403}
    assert (by_tag["code"], by_tag["detail"]["rule"]) == ("DENIED", "tag_mutability")
    assert by_tag["message"].startswith(
        "tag 'v1.0.0' of acme-prod/keep is immutable in production registry acme-prod and cannot be deleted"
    )
    assert (by_digest["code"], by_digest["detail"]["rule"]) == ("DENIED", "tag_mutability")
    assert by_digest["message"].startswith(
        f"manifest {image.manifest_digest} of acme-prod/keep is tagged v1.0.0, immutable in production registry"
        " acme-prod: it cannot be deleted"
    )
    assert _inspect_digest(skopeo, acme, "acme-prod/keep:v1.0.0") == image.manifest_digest
    skopeo.copy(acme.ref("acme-prod/keep:v1.0.0"), f"oci:{skopeo.home / 'kept'}:v1", "--src-creds", acme.ci.creds)


def test_skopeo_delete_is_refused_under_an_immutable_tag_and_works_in_development(
    acme: Acme, skopeo: Skopeo, make_oci_image: Callable[..., OciLayoutImage]
) -> None:
    image = make_oci_image()
    assert _push(skopeo, acme, image, "acme-prod/skopeo-keep:v1.0.0", acme.ci)[0] == 0
    assert _push(skopeo, acme, image, "acme-dev/skopeo-gone:v1.0.0", acme.ci)[0] == 0

    def delete(image: str) -> tuple[int, str]:
        deleted = skopeo.run("delete", "--tls-verify=false", "--creds", acme.ci.creds, acme.ref(image), check=False)
        return deleted.returncode, output(deleted)

    by_tag = delete("acme-prod/skopeo-keep:v1.0.0")
    by_digest = delete(f"acme-prod/skopeo-keep@{image.manifest_digest}")
    in_development = delete("acme-dev/skopeo-gone:v1.0.0")

    # skopeo deletes by digest even when given a tag, so both name the manifest and its immutable tag.
    for code, message in (by_tag, by_digest):
        assert code != 0
        assert (
            f"manifest {image.manifest_digest} of acme-prod/skopeo-keep is tagged v1.0.0, immutable in production"
            " registry acme-prod"
        ) in message, message
    assert _inspect_digest(skopeo, acme, "acme-prod/skopeo-keep:v1.0.0") == image.manifest_digest
    assert in_development[0] == 0, in_development[1]
    assert get_manifest(acme, "acme-dev/skopeo-gone", image.manifest_digest, acme.ci).status_code == 404


# --------------------------------------------------------------------------------------------------
# who may push


def test_a_member_cannot_push_to_production_but_a_ci_credential_can(
    acme: Acme, skopeo: Skopeo, make_oci_image: Callable[..., OciLayoutImage]
) -> None:
    password = strong_password()
    acme.world.admin.run(
        "member", "add", "dana", "--account", "acme", "--role", "developer", "--password-stdin", stdin=password
    )
    dana = Credential("dana", password)
    image = make_oci_image()

    refused, message = _push(skopeo, acme, image, "acme-prod/members:v1.0.0", dana)
    in_development, _ = _push(skopeo, acme, image, "acme-dev/members:v1.0.0", dana)
    from_ci, _ = _push(skopeo, acme, image, "acme-prod/members:v1.0.0", acme.ci)

    assert refused != 0
    assert (
        "denied: production registry acme-prod takes new images only from CI (manifest_creators: ci-or-promotion)"
        " and member dana is not a ci credential: push from your CI pipeline with a ci credential"
    ) in message, message
    assert in_development == 0  # she may push: the refusal is production's rule, not her rights
    assert from_ci == 0
    assert _inspect_digest(skopeo, acme, "acme-prod/members:v1.0.0") == image.manifest_digest


# --------------------------------------------------------------------------------------------------
# signatures


def test_require_signature_refuses_the_tag_of_an_unsigned_image_until_a_signature_is_attached(
    acme: Acme, skopeo: Skopeo, make_oci_image: Callable[..., OciLayoutImage], e2e_tmp: Path
) -> None:
    changed = acme.world.admin.json("registry", "set", SIGNED, "--require-signature")
    assert changed["policy"]["require_signature"] is True
    image = make_oci_image()
    digest = image.manifest_digest
    repository = f"{SIGNED}/web"

    unsigned, message = _push(skopeo, acme, image, f"{repository}:v1.0.0", acme.ci)
    assert unsigned != 0
    assert (
        f"denied: production registry {SIGNED} requires a signature before tagging (require_signature) and"
        f" {repository}@{digest} has none: push the image by digest, sign it"
    ) in message, message
    assert tags(acme, repository, acme.ci) in (None, [])

    by_digest, message = _push(skopeo, acme, image, f"{repository}@{digest}", acme.ci)  # no tag: allowed
    assert by_digest == 0, message
    signature = sign(acme, repository, digest, acme.ci, e2e_tmp / "signature")
    listed = referrers(acme, repository, digest, acme.ci)
    assert [(d["digest"], d["artifactType"]) for d in listed] == [(signature, COSIGN_SIGNATURE)]

    signed, message = _push(skopeo, acme, image, f"{repository}:v1.0.0", acme.ci)
    assert signed == 0, message
    assert _inspect_digest(skopeo, acme, f"{repository}:v1.0.0") == digest
    assert tags(acme, repository, acme.ci) == ["v1.0.0"]
