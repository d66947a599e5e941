"""Cross-repository blob mount: copying between repositories of one registry does not re-send layers."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

import pytest

from .support import OciLayoutImage, RegistryHTTP, RegistryServer, Skopeo

pytestmark = pytest.mark.e2e

MOUNTS = "shipshape_blob_mounts_total"
REQUEST_BYTES = "shipshape_http_request_bytes_total"


def test_copy_between_repositories_mounts_layers_instead_of_uploading(
    registry: RegistryServer,
    skopeo: Skopeo,
    http: RegistryHTTP,
    make_oci_image: Callable[..., OciLayoutImage],
    tmp_path: Path,
) -> None:
    # A layer big enough that re-sending it could not hide among manifests and configs.
    image = make_oci_image(random_bytes=2 * 1024 * 1024)
    smallest_layer = min(image.layer_sizes)
    assert smallest_layer > 1024 * 1024
    skopeo.copy(image.ref, f"docker://{registry.address}/reg/a:v1")
    # skopeo mounts a layer only when its (private) blob-info cache knows both where the layer lives
    # and how it is compressed. A push records the compression only if skopeo's digesting reader saw
    # the end of the stream before the upload returned, a race inside skopeo (1.9) that it loses about
    # once in twenty copies under load. A pull reads every layer to its end, so it teaches the cache
    # both facts every time: the same state a CI runner has after pulling a base image.
    skopeo.copy(f"docker://{registry.address}/reg/a:v1", f"oci:{tmp_path / 'pulled'}:v1")
    before = registry.metrics() if registry.is_shipshape else {}

    skopeo.copy(f"docker://{registry.address}/reg/a:v1", f"docker://{registry.address}/reg/b:v1")

    # The copy is complete and identical.
    r = http.get_manifest("reg/b", "v1")
    assert r.status_code == 200
    assert r.content == image.manifest_bytes
    for digest in image.layer_digests:
        assert http.head_blob("reg/b", digest).status_code == 200

    if registry.is_shipshape:
        after = registry.metrics()
        assert MOUNTS in after, f"/metrics lacks {MOUNTS}"
        assert REQUEST_BYTES in after, f"/metrics lacks {REQUEST_BYTES}"
        mounts = after[MOUNTS] - before.get(MOUNTS, 0.0)
        sent = after[REQUEST_BYTES] - before.get(REQUEST_BYTES, 0.0)
        layers = len(image.layer_digests)
        assert mounts >= layers, f"{MOUNTS} grew by {mounts} while copying {layers} layer(s)"
        assert sent < smallest_layer, f"{sent} request bytes for a copy whose layers should have been mounted"
        return

    # Distribution: read its access log.
    posts_to_b = []
    layer_puts_to_b = []
    for rec in registry.request_log():
        parts = urlsplit(rec.path)
        if not parts.path.startswith("/v2/reg/b/blobs/uploads/"):
            continue
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        if rec.method == "POST":
            posts_to_b.append((query, rec.status))
        if rec.method in ("PUT", "PATCH") and unquote(query.get("digest", "")) in image.layer_digests:
            layer_puts_to_b.append(rec)
    mounted = {unquote(q["mount"]) for q, status in posts_to_b if status == 201 and "mount" in q}
    assert set(image.layer_digests) <= mounted, posts_to_b
    assert all(unquote(q.get("from", "")) == "reg/a" for q, status in posts_to_b if "mount" in q)
    assert layer_puts_to_b == []
