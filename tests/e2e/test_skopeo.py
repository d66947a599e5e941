"""skopeo against the registry: push an umoci-built image, inspect it, list tags, delete."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from .support import TARGET_DISTRIBUTION, OciLayoutImage, RegistryHTTP, RegistryServer, Skopeo, sha256_digest

pytestmark = pytest.mark.e2e


def test_skopeo_push_then_inspect_reports_the_pushed_manifest_digest(
    registry: RegistryServer,
    skopeo: Skopeo,
    http: RegistryHTTP,
    make_oci_image: Callable[..., OciLayoutImage],
    e2e_tmp: Path,
) -> None:
    image = make_oci_image()
    ref = f"docker://{registry.address}/reg/app:v1"
    digest_file = e2e_tmp / "pushed.digest"

    skopeo.copy(image.ref, ref, "--digestfile", str(digest_file))

    pushed = digest_file.read_text().strip()
    assert pushed == image.manifest_digest  # OCI manifest pushed unchanged
    inspected = skopeo.inspect_json(ref)
    assert inspected["Digest"] == pushed
    assert inspected["Layers"] == image.layer_digests
    assert inspected["Architecture"] == image.config["architecture"]

    # The registry serves exactly the bytes that hash to that digest.
    r = http.get_manifest("reg/app", "v1")
    assert r.status_code == 200
    assert sha256_digest(r.content) == pushed
    assert r.content == image.manifest_bytes
    assert r.headers.get("Docker-Content-Digest") == pushed
    # skopeo inspect --raw agrees too
    assert json.loads(skopeo.inspect_raw(ref)) == image.manifest


def test_skopeo_list_tags_returns_every_tag_in_lexical_order(
    registry: RegistryServer, skopeo: Skopeo, make_oci_image: Callable[..., OciLayoutImage]
) -> None:
    image = make_oci_image()
    # All lower case, so "lexical (case-insensitive alphanumeric)" and plain code-point order agree.
    pushed_in_this_order = ["v2", "latest", "v10", "1.0", "v1", "v1.2-rc"]
    for tag in pushed_in_this_order:
        skopeo.copy(image.ref, f"docker://{registry.address}/reg/app:{tag}")

    tags = skopeo.list_tags(f"docker://{registry.address}/reg/app")

    assert sorted(tags) == sorted(pushed_in_this_order)
    if registry.target == TARGET_DISTRIBUTION:
        pytest.skip("Distribution 2.8 lists tags in directory order; ordering is checked on shipshape only")
    assert tags == sorted(pushed_in_this_order)


def test_skopeo_delete_makes_the_image_unavailable(
    registry: RegistryServer, skopeo: Skopeo, http: RegistryHTTP, make_oci_image: Callable[..., OciLayoutImage]
) -> None:
    image = make_oci_image()
    ref = f"docker://{registry.address}/reg/app:v1"
    skopeo.copy(image.ref, ref)
    assert skopeo.inspect_json(ref)["Digest"] == image.manifest_digest

    skopeo.delete(ref)

    result = skopeo.inspect(ref, check=False)
    assert result.returncode != 0
    assert "manifest unknown" in result.stderr.decode().lower()
    assert http.get_manifest("reg/app", image.manifest_digest).status_code == 404
