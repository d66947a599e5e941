"""A credential's life through the CLI against the live server: reset and revoke end the old secret at once,
rotate keeps it for the grace window (none with `--grace 0`)."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from .auth_support import (
    AuthWorld,
    Credential,
    LoginPodman,
    auth_world,
    basic_auth,
    failed,
    log_records,
    output,
    v2_get,
    wait_for_request,
)
from .support import Skopeo, build_umoci_image, require_tool

pytestmark = pytest.mark.e2e

REGISTRY = "life-dev"


@dataclass
class Life:
    world: AuthWorld
    image_ref: str  # docker://… of an image in REGISTRY
    manifest_digest: str

    def create(self, name: str) -> Credential:
        return self.world.admin.credential(name, REGISTRY, "ci", "pull,push")


@pytest.fixture(scope="module")
def life() -> Iterator[Life]:
    require_tool("skopeo")
    with auth_world() as world:
        world.registry(REGISTRY, "development")
        pusher = world.admin.credential("pusher", REGISTRY, "ci", "pull,push")
        image = build_umoci_image(world.root / "image")
        ref = f"docker://{world.server.address}/{REGISTRY}/app:v1"
        Skopeo(world.root / "sk").copy(image.ref, ref, "--dest-creds", pusher.creds)
        yield Life(world, ref, image.manifest_digest)


@pytest.fixture(autouse=True)
def _server_log_on_failure(request: pytest.FixtureRequest, life: Life) -> Iterator[None]:
    yield
    if failed(request):
        print(f"server logs:\n{life.world.server.log_tail()}")


@pytest.fixture
def skopeo(e2e_tmp: Path) -> Skopeo:
    return Skopeo(e2e_tmp / "sk")


def inspect(life: Life, skopeo: Skopeo, credential: Credential) -> subprocess.CompletedProcess[bytes]:
    """`skopeo inspect --creds`: a fresh token flow with this secret."""
    return skopeo.run("inspect", "--tls-verify=false", "--creds", credential.creds, life.image_ref, check=False)


def assert_works(life: Life, skopeo: Skopeo, credential: Credential) -> None:
    result = inspect(life, skopeo, credential)
    assert result.returncode == 0, output(result)
    assert life.manifest_digest in result.stdout.decode()
    assert v2_get(life.world.server, "", credential).status_code == 200  # Basic, without the token flow


def assert_refused(life: Life, skopeo: Skopeo, credential: Credential) -> None:
    result = inspect(life, skopeo, credential)
    assert result.returncode != 0
    assert "unauthorized" in output(result).lower(), output(result)
    assert v2_get(life.world.server, "", credential).status_code == 401


def test_reset_ends_the_old_secret_at_once_and_the_new_one_works(life: Life, skopeo: Skopeo, e2e_tmp: Path) -> None:
    old = life.create("reset-me")
    podman = LoginPodman(e2e_tmp / "pm")
    podman.login(life.world.server.address, old)
    assert_works(life, skopeo, old)  # used just before: a cached verification must not outlive the reset

    new = life.world.admin.new_secret("reset", old.username)

    assert new.username == old.username and new.secret != old.secret
    refused = podman.login(life.world.server.address, old, check=False)
    assert refused.returncode != 0
    assert "invalid username/password" in output(refused), output(refused)  # podman's words for a 401
    assert_refused(life, skopeo, old)
    assert "Login Succeeded" in output(podman.login(life.world.server.address, new))
    assert_works(life, skopeo, new)


def test_revoke_ends_the_credential(life: Life, skopeo: Skopeo) -> None:
    credential = life.create("revoke-me")
    assert_works(life, skopeo, credential)

    revoked = life.world.admin.run("credential", "revoke", credential.username)

    assert credential.username in revoked.stdout.decode()
    assert_refused(life, skopeo, credential)
    listed = {c["username"]: c for c in life.world.admin.json("credential", "list")}
    assert listed[credential.username]["state"] == "revoked"


def test_rotate_with_zero_grace_ends_the_old_secret_at_once(life: Life, skopeo: Skopeo) -> None:
    old = life.create("rotate-now")
    assert_works(life, skopeo, old)

    new = life.world.admin.new_secret("rotate", old.username, "--grace", "0")

    assert new.username == old.username and new.secret != old.secret
    assert_refused(life, skopeo, old)
    assert_works(life, skopeo, new)


def test_rotate_with_the_default_grace_keeps_both_secrets_working(life: Life, skopeo: Skopeo) -> None:
    old = life.create("rotate-later")
    assert_works(life, skopeo, old)

    new = life.world.admin.new_secret("rotate", old.username)

    assert new.username == old.username and new.secret != old.secret
    assert_works(life, skopeo, old)
    assert_works(life, skopeo, new)
    # Resetting then ends both: the one in its grace window too.
    newest = life.world.admin.new_secret("reset", old.username)
    assert_refused(life, skopeo, old)
    assert_refused(life, skopeo, new)
    assert_works(life, skopeo, newest)


# --------------------------------------------------------------------------------------------------
# several server processes: each one must stop accepting a reset or revoked secret at once


def _connection_per_worker(
    world: AuthWorld, login: Credential, workers: int
) -> dict[int, tuple[requests.Session, str]]:
    """One kept-alive connection to each worker process (by PID), found by opening connections (bounded) until the
    log shows every worker answering one. Each connection asks for its own path, so its log line names it."""
    found: dict[int, tuple[requests.Session, str]] = {}
    for attempt in range(24):
        session = requests.Session()
        path = f"/v2/{REGISTRY}/pinned-{attempt}/tags/list"
        answer = session.get(world.server.url + path, headers=basic_auth(login), timeout=30)
        assert answer.status_code == 404, answer.text  # allowed in, and the repository is unknown
        wait_for_request(world.server, 0, "GET", path, 404)
        [pid] = {r["pid"] for r in log_records(world.server) if r.get("path") == path}
        if pid in found:
            session.close()
            continue
        found[pid] = (session, path)
        if len(found) == workers:
            return found
    raise AssertionError(f"24 connections reached only workers {sorted(found)}")


def _answers(connections: dict[int, tuple[requests.Session, str]], world: AuthWorld, login: Credential) -> list[int]:
    return [
        session.get(world.server.url + path, headers=basic_auth(login), timeout=30).status_code
        for session, path in connections.values()
    ]


def test_reset_and_revoke_end_the_old_secret_at_once_in_every_worker() -> None:
    with auth_world("ssw-", ["--workers", "2"]) as world:
        world.registry(REGISTRY, "development")
        old = world.admin.credential("ci", REGISTRY, "ci", "pull,push")
        connections = _connection_per_worker(world, old, workers=2)  # each worker has now verified `old`
        try:
            new = world.admin.new_secret("reset", old.username)
            after_reset = _answers(connections, world, old)
            _answers(connections, world, new)  # each worker verifies (and may cache) the new secret
            world.admin.run("credential", "revoke", old.username)
            after_revoke = _answers(connections, world, new)
        finally:
            for session, _ in connections.values():
                session.close()

    # One answer per worker: 401 is a refusal; 404 means the worker let the caller in (the repository is unknown).
    assert {"old secret after reset": after_reset, "revoked credential": after_revoke} == {
        "old secret after reset": [401, 401],
        "revoked credential": [401, 401],
    }
