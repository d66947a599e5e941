"""kill -9 in the middle of a large upload: nothing partial becomes a blob, earlier data survives."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from .support import (
    BigData,
    OciLayoutImage,
    RegistryHTTP,
    RegistryServer,
    Skopeo,
    file_digest,
    largest_file_size,
    regular_files,
    single_manifest_digest_of_layout,
    wait_until,
)

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]

MiB = 1024 * 1024
TOTAL = 200 * MiB
PAUSE_AT = 128 * MiB  # the client stops sending here, so the upload cannot finish before the kill
KILL_WHEN_RECEIVED = 64 * MiB  # ... and the server is killed once it has at least this much


def _upload_status_received(session: requests.Session, location: str) -> int:
    """Bytes received according to the upload-status endpoint (``Range: 0-<last>``), 0 if unknown."""
    try:
        r = session.get(location, timeout=5)
    except requests.RequestException:
        return 0
    m = re.fullmatch(r"(?:bytes=)?0-(\d+)", r.headers.get("Range", "").strip())
    if r.status_code != 204 or not m:
        return 0
    return int(m.group(1)) + 1


def _stream_patch(
    location: str, data: BigData, pause_at: int | None, release: threading.Event, outcome: dict[str, Any]
) -> None:
    def body() -> Iterator[bytes]:
        for i in range(data.chunks):
            if pause_at is not None and i * data.chunk_size == pause_at:
                release.wait(timeout=300)
            yield data.chunk(i)

    try:
        with requests.Session() as session:
            r = session.patch(
                location,
                data=body(),  # a generator: sent with chunked transfer encoding, no Content-Range
                headers={"Content-Type": "application/octet-stream"},
                timeout=(10, 300),
            )
            outcome["status"] = r.status_code
            outcome["location"] = r.headers.get("Location")
    except Exception as exc:  # the server dies mid-request in the crash case
        outcome["error"] = exc


def _push_streamed(http: RegistryHTTP, name: str, data: BigData) -> None:
    location = http.start_upload(name)
    outcome: dict[str, Any] = {}
    _stream_patch(location, data, None, threading.Event(), outcome)
    assert outcome.get("status") == 202, outcome
    r = http.session.put(http.absolute(outcome["location"]), params={"digest": data.digest}, timeout=300)
    assert r.status_code == 201, r.text


def test_kill_9_mid_upload_leaves_no_partial_blob_and_keeps_earlier_data(
    registry: RegistryServer,
    skopeo: Skopeo,
    http: RegistryHTTP,
    make_oci_image: Callable[..., OciLayoutImage],
    e2e_tmp: Path,
) -> None:
    # Earlier data, fully pushed before the crash.
    early = make_oci_image(random_bytes=256 * 1024)
    skopeo.copy(early.ref, f"docker://{registry.address}/reg/early:v1")

    # A 200 MiB blob streamed in one PATCH, paused client-side at 128 MiB.
    big = BigData(TOTAL, seed=20240601)
    location = http.start_upload("reg/big")
    release = threading.Event()
    outcome: dict[str, Any] = {}
    sender = threading.Thread(target=_stream_patch, args=(location, big, PAUSE_AT, release, outcome), daemon=True)
    sender.start()
    try:
        observer = requests.Session()  # a second connection for the status endpoint

        def received() -> int:
            return max(largest_file_size(registry.uploads_dir), _upload_status_received(observer, location))

        wait_until(
            lambda: received() >= KILL_WHEN_RECEIVED,
            timeout=240,
            interval=0.1,
            what=f"the server to receive {KILL_WHEN_RECEIVED} bytes of the upload "
            f"(watching {registry.uploads_dir} and GET {location})",
        )
        received_at_kill = received()
        registry.kill9()
        observer.close()
    finally:
        release.set()
        sender.join(timeout=120)
    assert not sender.is_alive()
    assert KILL_WHEN_RECEIVED <= received_at_kill <= PAUSE_AT
    assert outcome.get("status") != 202, "the interrupted PATCH must not have succeeded"

    registry.restart()

    # The interrupted blob does not exist ...
    assert http.head_blob("reg/big", big.digest).status_code == 404
    # ... and nothing under blobs/ holds the partial (or whole) data.
    assert registry.blobs_dir.is_dir(), f"no blob store at {registry.blobs_dir}"
    for path in regular_files(registry.blobs_dir):
        assert big.digest.split(":", 1)[1] not in str(path), path
        assert not big.is_nonempty_prefix(path), f"{path} holds partial upload data"

    # The earlier image still pulls, and its blobs hash to their digests.
    pulled = e2e_tmp / "early-pulled"
    skopeo.copy(f"docker://{registry.address}/reg/early:v1", f"oci:{pulled}:v1")
    assert single_manifest_digest_of_layout(pulled) == early.manifest_digest
    blob_files = regular_files(pulled / "blobs" / "sha256")
    assert {"sha256:" + p.name for p in blob_files} >= {
        early.manifest_digest,
        early.config_digest,
        *early.layer_digests,
    }
    for path in blob_files:
        assert file_digest(path) == "sha256:" + path.name
    for digest in early.layer_digests:
        assert (pulled / "blobs" / "sha256" / digest.split(":", 1)[1]).read_bytes() == early.blob(digest)

    # The same 200 MiB blob can be pushed afterwards, completely.
    _push_streamed(http, "reg/big", big)
    r = http.head_blob("reg/big", big.digest)
    assert r.status_code == 200
    assert int(r.headers["Content-Length"]) == TOTAL
    assert r.headers.get("Docker-Content-Digest") == big.digest
    assert http.blob_digest_and_size("reg/big", big.digest) == (big.digest, TOTAL)
