"""A multi-platform OCI index: pushed whole, served intact, resolved per platform by real clients."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from .support import (
    OCI_INDEX,
    Containerd,
    MultiArchLayout,
    RegistryHTTP,
    RegistryServer,
    Skopeo,
    chain_ids,
    sha256_digest,
    single_manifest_digest_of_layout,
)

pytestmark = pytest.mark.e2e


@pytest.fixture
def pushed_index(
    registry: RegistryServer, skopeo: Skopeo, make_multiarch_layout: Callable[..., MultiArchLayout]
) -> MultiArchLayout:
    layout = make_multiarch_layout()
    skopeo.copy(layout.ref, f"docker://{registry.address}/reg/multi:v1", "--all")
    return layout


def test_skopeo_copy_all_stores_the_index_byte_for_byte(
    registry: RegistryServer, skopeo: Skopeo, http: RegistryHTTP, pushed_index: MultiArchLayout
) -> None:
    ref = f"docker://{registry.address}/reg/multi:v1"

    raw = skopeo.inspect_raw(ref)

    assert sha256_digest(raw) == pushed_index.index_digest
    index = json.loads(raw)
    assert index["mediaType"] == OCI_INDEX
    assert {(m["platform"]["os"], m["platform"]["architecture"]): m["digest"] for m in index["manifests"]} == {
        ("linux", arch): child.manifest_digest for arch, child in pushed_index.children.items()
    }
    r = http.get_manifest("reg/multi", "v1")
    assert r.status_code == 200
    assert r.headers["Content-Type"].split(";")[0].strip() == OCI_INDEX
    assert r.headers.get("Docker-Content-Digest") == pushed_index.index_digest
    # Every child manifest and every blob is retrievable in the repository.
    for child in pushed_index.children.values():
        assert http.get_manifest("reg/multi", child.manifest_digest).status_code == 200
        for digest in (child.config_digest, child.layer_digest):
            assert http.head_blob("reg/multi", digest).status_code == 200


@pytest.mark.parametrize("arch", ["arm64", "amd64"])
def test_skopeo_override_arch_pulls_the_matching_child(
    registry: RegistryServer, skopeo: Skopeo, pushed_index: MultiArchLayout, e2e_tmp: Path, arch: str
) -> None:
    out = e2e_tmp / f"pulled-{arch}"

    skopeo.copy(
        f"docker://{registry.address}/reg/multi:v1",
        f"oci:{out}:v1",
        global_args=["--override-os", "linux", "--override-arch", arch],
    )

    child = pushed_index.children[arch]
    assert single_manifest_digest_of_layout(out) == child.manifest_digest
    layer = out / "blobs" / "sha256" / child.layer_digest.split(":", 1)[1]
    assert layer.is_file()
    assert sha256_digest(layer.read_bytes()) == child.layer_digest


def test_containerd_pulls_only_the_requested_platform(
    registry: RegistryServer, containerd: Containerd, pushed_index: MultiArchLayout
) -> None:
    ref = f"{registry.address}/reg/multi:v1"
    arm64 = pushed_index.children["arm64"]
    amd64 = pushed_index.children["amd64"]

    containerd.ctr("images", "pull", "--plain-http", "--platform", "linux/arm64", ref)

    assert containerd.image_digests().get(ref) == pushed_index.index_digest
    content = containerd.content_digests()
    assert {pushed_index.index_digest, arm64.manifest_digest, arm64.config_digest, arm64.layer_digest} <= content
    assert amd64.layer_digest not in content
    assert chain_ids([arm64.diff_id])[-1] in containerd.snapshot_keys()
    assert {p.read_bytes() for p in containerd.snapshot_files("platform.txt")} == {arm64.marker}
