"""podman: build FROM scratch, push with --digestfile, remove locally, pull back."""

from __future__ import annotations

from pathlib import Path

import pytest

from .support import Podman, RegistryHTTP, RegistryServer, layer_files, sha256_digest

pytestmark = pytest.mark.e2e


def test_podman_built_image_round_trips_with_the_same_digest(
    registry: RegistryServer, podman: Podman, http: RegistryHTTP, e2e_tmp: Path
) -> None:
    context = e2e_tmp / "ctx"
    (context / "app").mkdir(parents=True)
    (context / "app" / "hello.txt").write_text("hello from a podman build\n")
    (context / "app" / "config.ini").write_text("[main]\nmode=e2e\n")
    (context / "Containerfile").write_text('FROM scratch\nCOPY app/ /app/\nCMD ["/app/hello.txt"]\n')
    ref = f"{registry.address}/reg/app:v1"
    digest_file = e2e_tmp / "podman.digest"

    podman.run("build", "--isolation", "chroot", "-t", ref, str(context))
    podman.run("push", "--tls-verify=false", "--digestfile", str(digest_file), ref)
    pushed = digest_file.read_text().strip()
    assert pushed.startswith("sha256:")

    # The registry serves the manifest podman pushed.
    r = http.get_manifest("reg/app", "v1")
    assert r.status_code == 200
    assert sha256_digest(r.content) == pushed

    podman.run("rmi", ref)
    assert podman.run("image", "exists", ref, check=False).returncode != 0

    podman.run("pull", "--tls-verify=false", ref)
    pulled = podman.run("image", "inspect", "--format", "{{.Digest}}", ref).stdout.decode().strip()
    assert pulled == pushed

    cmd = podman.run("image", "inspect", "--format", "{{json .Config.Cmd}}", ref).stdout.decode().strip()
    assert cmd == '["/app/hello.txt"]'

    # The pulled layer holds the files that were built into it.
    saved = e2e_tmp / "saved"
    podman.run("save", "--format", "oci-dir", "-o", str(saved), ref)
    contents = layer_files(saved)
    assert contents["app/hello.txt"] == b"hello from a podman build\n"
    assert contents["app/config.ini"] == b"[main]\nmode=e2e\n"
