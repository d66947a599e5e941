"""Promotion with real clients: `shipshape promote` (run as a CI job would, with a ci credential) makes an image
pushed to staging with skopeo available in production under the same digest, without a byte uploaded, with its
signature and, for an index, every platform's image; production's policies refuse what they should and leave
nothing behind."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from .auth_support import ShipshapeCli, failed
from .policy_support import COSIGN_SIGNATURE, Acme, acme_world, get_manifest, referrers, sign, tags
from .support import (
    MultiArchLayout,
    OciLayoutImage,
    Skopeo,
    layer_files,
    require_tool,
    sha256_digest,
    single_manifest_digest_of_layout,
)

pytestmark = pytest.mark.e2e

UNMOVED = ("shipshape_blob_uploads_total", "shipshape_http_request_bytes_total")


@pytest.fixture(scope="module")
def acme() -> Iterator[Acme]:
    require_tool("skopeo")
    with acme_world("ssr-") as acme:
        yield acme


@pytest.fixture(autouse=True)
def _server_log_on_failure(request: pytest.FixtureRequest, acme: Acme) -> Iterator[None]:
    yield
    if failed(request):
        print(f"server logs:\n{acme.world.server.log_tail()}")


@pytest.fixture
def pipeline(acme: Acme) -> ShipshapeCli:
    """The CLI as a CI job runs it: the ci credential in SHIPSHAPE_USERNAME/SHIPSHAPE_PASSWORD, no stored login."""
    return acme.world.cli("pipeline", acme.ci.username, acme.ci.secret)


def _push(skopeo: Skopeo, acme: Acme, image: OciLayoutImage | MultiArchLayout, target: str, *extra: str) -> None:
    skopeo.copy(image.ref, acme.ref(target), "--dest-creds", acme.ci.creds, *extra)


def _inspect_digest(skopeo: Skopeo, acme: Acme, image: str) -> str:
    inspected = skopeo.run("inspect", "--tls-verify=false", "--creds", acme.ci.creds, acme.ref(image))
    return str(json.loads(inspected.stdout)["Digest"])


def _counters(acme: Acme) -> dict[str, float]:
    metrics = acme.world.server.metrics()
    return {name: metrics.get(name, 0.0) for name in UNMOVED}


def _nothing_in(acme: Acme, repository: str, digest: str) -> None:
    assert get_manifest(acme, repository, digest, acme.ci).status_code == 404
    assert tags(acme, repository, acme.ci) in (None, [])


def test_promote_from_staging_gives_production_the_same_digest_and_signature_without_uploading(
    acme: Acme,
    pipeline: ShipshapeCli,
    skopeo: Skopeo,
    make_oci_image: Callable[..., OciLayoutImage],
    e2e_tmp: Path,
) -> None:
    image = make_oci_image()
    digest = image.manifest_digest
    _push(skopeo, acme, image, "acme-stage/web:v1.0.0")
    signature = sign(acme, "acme-stage/web", digest, acme.ci, e2e_tmp / "signature")
    before = _counters(acme)

    promoted = pipeline.run("promote", "acme-stage/web:v1.0.0", "acme-prod/web")

    after = _counters(acme)
    assert promoted.stdout.decode().startswith(f"Promoted acme-stage/web@{digest} to acme-prod/web:v1.0.0 ("), promoted
    assert "no bytes copied" in promoted.stdout.decode()
    assert after == before, "the promotion uploaded blobs or received request bodies"
    assert before["shipshape_blob_uploads_total"] > 0  # the counter is live: the pushes above counted
    assert _inspect_digest(skopeo, acme, "acme-prod/web:v1.0.0") == _inspect_digest(
        skopeo, acme, "acme-stage/web:v1.0.0"
    )
    assert _inspect_digest(skopeo, acme, "acme-prod/web:v1.0.0") == digest
    listed = referrers(acme, "acme-prod/web", digest, acme.ci)
    assert [(d["digest"], d["artifactType"]) for d in listed] == [(signature, COSIGN_SIGNATURE)]
    assert get_manifest(acme, "acme-prod/web", signature, acme.ci).status_code == 200
    # A real pull from production: every blob is served there.
    pulled = e2e_tmp / "pulled"
    skopeo.copy(acme.ref("acme-prod/web:v1.0.0"), f"oci:{pulled}:v1.0.0", "--src-creds", acme.ci.creds)
    assert single_manifest_digest_of_layout(pulled) == digest
    assert layer_files(pulled)["id"] == image.files["id"]


def test_a_tag_production_does_not_allow_is_refused_and_leaves_nothing(
    acme: Acme, pipeline: ShipshapeCli, skopeo: Skopeo, make_oci_image: Callable[..., OciLayoutImage]
) -> None:
    image = make_oci_image()
    _push(skopeo, acme, image, "acme-stage/nightly:nightly")  # staging takes any tag but latest

    refused = pipeline.run("promote", "acme-stage/nightly:nightly", "acme-prod/nightly", check=False)

    assert refused.returncode != 0
    assert refused.stdout == b""
    assert refused.stderr.decode().strip() == (
        "shipshape: tag 'nightly' does not match the tag patterns of production registry acme-prod: name it by"
        " semver (v1.2.3), date (2026.01.15) or commit (commit-3f2a9c1)"
    )
    _nothing_in(acme, "acme-prod/nightly", image.manifest_digest)


def test_a_promotion_from_development_is_refused_by_production(
    acme: Acme, pipeline: ShipshapeCli, skopeo: Skopeo, make_oci_image: Callable[..., OciLayoutImage]
) -> None:
    image = make_oci_image()
    _push(skopeo, acme, image, "acme-dev/shortcut:v1.0.0")

    refused = pipeline.run("promote", "acme-dev/shortcut:v1.0.0", "acme-prod/shortcut", check=False)

    assert refused.returncode != 0
    assert refused.stdout == b""
    assert refused.stderr.decode().strip() == (
        "shipshape: production registry acme-prod does not accept promotions from development registry acme-dev"
        " (promotion_sources: env:staging): promote from an allowed source (the account's staging registries),"
        " or add acme-dev to promotion_sources"
    )
    _nothing_in(acme, "acme-prod/shortcut", image.manifest_digest)


def test_a_multi_arch_index_is_promoted_with_every_platform(
    acme: Acme,
    pipeline: ShipshapeCli,
    skopeo: Skopeo,
    make_multiarch_layout: Callable[..., MultiArchLayout],
    e2e_tmp: Path,
) -> None:
    layout = make_multiarch_layout(tag="v2.0.0")
    _push(skopeo, acme, layout, "acme-stage/multi:v2.0.0", "--all")

    promoted = json.loads(pipeline.run("promote", "acme-stage/multi:v2.0.0", "acme-prod/multi", "--json").stdout)

    assert (promoted["target"], promoted["digest"]) == ("acme-prod/multi:v2.0.0", layout.index_digest)
    assert promoted["manifests"] == 1 + len(layout.children)
    raw = skopeo.run("inspect", "--tls-verify=false", "--raw", "--creds", acme.ci.creds,
                     acme.ref("acme-prod/multi:v2.0.0")).stdout  # fmt: skip
    assert sha256_digest(raw) == layout.index_digest
    assert raw == layout.index_bytes
    for arch, child in layout.children.items():
        pulled = e2e_tmp / f"pulled-{arch}"
        skopeo.copy(
            acme.ref("acme-prod/multi:v2.0.0"),
            f"oci:{pulled}:v2.0.0",
            "--src-creds",
            acme.ci.creds,
            global_args=["--override-os", "linux", "--override-arch", arch],
        )
        assert single_manifest_digest_of_layout(pulled) == child.manifest_digest
        assert layer_files(pulled)["platform.txt"] == child.marker
