"""containerd (the kubelet's puller) pulls and unpacks from the registry over plain HTTP."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from .support import Containerd, OciLayoutImage, RegistryServer, Skopeo, chain_ids

pytestmark = pytest.mark.e2e


def test_containerd_pulls_and_unpacks_an_image(
    registry: RegistryServer, skopeo: Skopeo, containerd: Containerd, make_oci_image: Callable[..., OciLayoutImage]
) -> None:
    image = make_oci_image()
    skopeo.copy(image.ref, f"docker://{registry.address}/reg/app:v1")
    ref = f"{registry.address}/reg/app:v1"

    containerd.ctr("images", "pull", "--plain-http", ref)

    # The image is known by the digest that was pushed.
    assert containerd.image_digests().get(ref) == image.manifest_digest
    # All of its content was fetched.
    content = containerd.content_digests()
    assert {image.manifest_digest, image.config_digest, *image.layer_digests} <= content
    # It was unpacked: the committed snapshot named by the top layer's ChainID exists ...
    assert chain_ids(image.diff_ids)[-1] in containerd.snapshot_keys()
    # ... and holds the files that were put into the image.
    unpacked = containerd.snapshot_files("etc/app.conf")
    assert unpacked, "etc/app.conf not found in any unpacked snapshot"
    assert {p.read_bytes() for p in unpacked} == {image.files["etc/app.conf"]}
    assert {p.read_bytes() for p in containerd.snapshot_files("id")} == {image.files["id"]}
