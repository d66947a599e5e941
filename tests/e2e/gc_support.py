"""Helpers for the garbage-collection end-to-end tests: images made of real gzip'd tar layers, pushed and pulled
over raw HTTP with Basic credentials the way a client does (HEAD first, upload what is missing, then the manifest,
uploading again when the registry says a blob went meanwhile), and what the server's data directory holds."""

from __future__ import annotations

import gzip
import io
import json
import random
import sqlite3
import tarfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from .support import MANIFEST_ACCEPT, OCI_CONFIG, OCI_LAYER_GZIP, OCI_MANIFEST, sha256_digest

PUSH_ATTEMPTS = 20


def layer(seed: str, size: int) -> bytes:
    """A gzip'd tar holding one file of `size` reproducible pseudo-random bytes (the same seed, the same bytes)."""
    content = random.Random(seed).randbytes(size)
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo(f"data/{seed.replace(' ', '-')}.bin")
        info.size, info.mtime, info.mode = len(content), 0, 0o644
        tar.addfile(info, io.BytesIO(content))
    return gzip.compress(archive.getvalue(), mtime=0)


@dataclass(frozen=True)
class Image:
    """An OCI image: a config naming `name`, and `layers` (shared between images when the same bytes are given)."""

    name: str
    layers: tuple[bytes, ...]

    @property
    def config(self) -> bytes:
        diff_ids = [sha256_digest(gzip.decompress(data)) for data in self.layers]
        document = {
            "architecture": "amd64",
            "os": "linux",
            "config": {"Labels": {"image": self.name}},
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
        }
        return json.dumps(document, sort_keys=True).encode()

    @property
    def blobs(self) -> dict[str, bytes]:
        """Digest to bytes, config first."""
        return {sha256_digest(data): data for data in (self.config, *self.layers)}

    @property
    def manifest(self) -> bytes:
        config = self.config
        document = {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": sha256_digest(config), "size": len(config)},
            "layers": [
                {"mediaType": OCI_LAYER_GZIP, "digest": sha256_digest(data), "size": len(data)} for data in self.layers
            ],
        }
        return json.dumps(document).encode()

    @property
    def digest(self) -> str:
        return sha256_digest(self.manifest)


class Client:
    """One client's connection to `/v2/` with Basic credentials; counts the retries a push needed."""

    def __init__(self, base_url: str, username: str, secret: str) -> None:
        self.base_url = base_url
        self.session = requests.Session()
        self.session.auth = (username, secret)
        self.retries = 0

    def close(self) -> None:
        self.session.close()

    def push(self, repository: str, image: Image, tag: str) -> None:
        """As skopeo does: skip what HEAD says is there, upload the rest, PUT the manifest. When a blob went in
        between (MANIFEST_BLOB_UNKNOWN: a collection dropped a link HEAD had seen), upload everything again."""
        trust_head = True
        for _ in range(PUSH_ATTEMPTS):
            for digest, data in image.blobs.items():
                if not (trust_head and self._has_blob(repository, digest)):
                    self._upload(repository, digest, data)
            answer = self.session.put(
                f"{self.base_url}/v2/{repository}/manifests/{tag}",
                data=image.manifest,
                headers={"Content-Type": OCI_MANIFEST},
                timeout=60,
            )
            if answer.status_code == 201:
                return
            if answer.status_code == 400 and "MANIFEST_BLOB_UNKNOWN" in answer.text:
                self.retries += 1
                trust_head = False
                continue
            raise AssertionError(f"PUT manifest {repository}:{tag} answered {answer.status_code}: {answer.text}")
        raise AssertionError(f"no push of {repository}:{tag} succeeded in {PUSH_ATTEMPTS} attempts")

    def delete(self, repository: str, digest: str) -> None:
        answer = self.session.delete(f"{self.base_url}/v2/{repository}/manifests/{digest}", timeout=60)
        assert answer.status_code == 202, f"DELETE {repository}@{digest} answered {answer.status_code}: {answer.text}"

    def manifest_status(self, repository: str, reference: str) -> int:
        answer = self.session.get(
            f"{self.base_url}/v2/{repository}/manifests/{reference}", headers={"Accept": MANIFEST_ACCEPT}, timeout=60
        )
        return answer.status_code

    def pull(self, repository: str, image: Image) -> None:
        """The manifest by digest, then every blob, each checked against its digest and size."""
        answer = self.session.get(
            f"{self.base_url}/v2/{repository}/manifests/{image.digest}", headers={"Accept": MANIFEST_ACCEPT}, timeout=60
        )
        assert answer.status_code == 200, f"GET {repository}@{image.digest} answered {answer.status_code}"
        assert answer.content == image.manifest
        for digest, data in image.blobs.items():
            blob = self.session.get(f"{self.base_url}/v2/{repository}/blobs/{digest}", timeout=60)
            assert blob.status_code == 200, f"GET blob {digest} of {repository} answered {blob.status_code}"
            assert sha256_digest(blob.content) == digest and len(blob.content) == len(data)

    def _has_blob(self, repository: str, digest: str) -> bool:
        return self.session.head(f"{self.base_url}/v2/{repository}/blobs/{digest}", timeout=60).status_code == 200

    def _upload(self, repository: str, digest: str, data: bytes) -> None:
        started = self.session.post(f"{self.base_url}/v2/{repository}/blobs/uploads/", timeout=60)
        assert started.status_code == 202, f"POST upload answered {started.status_code}: {started.text}"
        location = started.headers["Location"]
        if not location.startswith("http"):
            location = self.base_url + location
        put = self.session.put(
            location,
            params={"digest": digest},
            data=data,
            headers={"Content-Type": "application/octet-stream"},
            timeout=60,
        )
        assert put.status_code == 201, f"PUT blob answered {put.status_code}: {put.text}"


def blob_files(data_dir: Path) -> dict[str, Path]:
    """The blob files under the data directory, by digest."""
    root = data_dir / "blobs"
    if not root.is_dir():
        return {}
    return {
        f"{algorithm.name}:{path.name}": path
        for algorithm in root.iterdir()
        for path in algorithm.rglob("*")
        if path.is_file()
    }


def upload_files(data_dir: Path) -> set[str]:
    root = data_dir / "uploads"
    return {path.name for path in root.iterdir()} if root.is_dir() else set()


def metadata_rows(data_dir: Path, query: str, parameters: Iterable[Any] = ()) -> list[tuple[Any, ...]]:
    """Rows of the server's SQLite metadata, read with Python's own sqlite3 (read-only)."""
    connection = sqlite3.connect(f"file:{data_dir / 'metadata.db'}?mode=ro", uri=True)
    try:
        return list(connection.execute(query, tuple(parameters)))
    finally:
        connection.close()
