"""Three `shipshape serve` processes on one PostgreSQL and one S3 store (a real SeaweedFS), behind a round-robin
balancer that sends each request to the next process: real clients push and pull through it, a chunked upload
moves between processes at every chunk, GC started on two processes at once runs once, and a process killed
(kill -9) in the middle of a push loses nothing that was acknowledged."""

from __future__ import annotations

import contextlib
import itertools
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from ..s3_support import new_bucket
from .auth_support import (
    ADMIN,
    ADMIN_PASSWORD_ENV,
    Credential,
    LoginPodman,
    ShipshapeCli,
    basic_auth,
    output,
    private_dir,
    strong_password,
)
from .gc_support import Client, Image, layer
from .support import (
    TARGET_SHIPSHAPE,
    OciLayoutImage,
    RegistryServer,
    Skopeo,
    free_port,
    postgres_database,
    sha256_digest,
    stop_process,
    write_hello_context,
)

pytestmark = [pytest.mark.e2e, pytest.mark.postgres, pytest.mark.s3]

REGISTRY = "scale-dev"
PROCESSES = 3


@dataclass
class Cluster:
    servers: list[RegistryServer]
    balancer_port: int
    admin_password: str
    admin: ShipshapeCli
    ci: Credential

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.balancer_port}"

    @property
    def url(self) -> str:
        return f"http://{self.address}"


@contextlib.contextmanager
def balancer(port: int, backends: list[str]) -> Iterator[subprocess.Popen[bytes]]:
    script = Path(__file__).with_name("round_robin.py")
    process = subprocess.Popen(
        [sys.executable, str(script), str(port), *backends], stdout=subprocess.PIPE, stdin=subprocess.DEVNULL
    )
    try:
        assert process.stdout is not None and process.stdout.readline().strip() == b"ready", "balancer did not start"
        yield process
    finally:
        stop_process(process)


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    password = strong_password()
    with contextlib.ExitStack() as stack:
        database = stack.enter_context(postgres_database("shipshape_scale"))
        bucket, endpoint = stack.enter_context(new_bucket())
        root = stack.enter_context(private_dir("ssx-"))
        port = free_port()
        args = ["--database-url", database, "--blob-store", bucket, "--s3-endpoint-url", endpoint,
                "--s3-region", "us-east-1", "--public-url", f"http://127.0.0.1:{port}"]  # fmt: skip
        servers = [
            RegistryServer(TARGET_SHIPSHAPE, root / f"p{n}", extra_args=args, auth=True) for n in range(PROCESSES)
        ]
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv(ADMIN_PASSWORD_ENV, password)
            servers[0].start()  # the first start migrates the database and creates the admin
            # Every process signs and checks tokens and webhooks with the same keys: share the key files.
            for key in (servers[0].data_dir / name for name in ("token-signing.key", "webhook-key")):
                for other in servers[1:]:
                    shutil.copy2(key, other.data_dir / key.name)
            for server in servers[1:]:
                server.start()
        for server in servers:
            stack.callback(server.stop)
        stack.enter_context(balancer(port, [server.url for server in servers]))
        admin = ShipshapeCli(root / "homes" / ADMIN, f"http://127.0.0.1:{port}")
        admin.login(ADMIN, password)
        admin.run("registry", "create", REGISTRY, "--environment", "development")
        ci = admin.credential("ci", REGISTRY, "ci", "pull,push,delete")
        yield Cluster(servers, port, password, admin, ci)


def served_by_each(cluster: Cluster, since: list[int], prefix: str = "/v2/") -> list[int]:
    """How many requests under `prefix` each process logged after `since` (its log length before)."""
    return [
        sum(1 for logged in server.request_log()[start:] if logged.path.startswith(prefix))
        for server, start in zip(cluster.servers, since, strict=True)
    ]


def log_lengths(cluster: Cluster) -> list[int]:
    return [len(server.request_log()) for server in cluster.servers]


def test_skopeo_pushes_and_pulls_through_three_processes(cluster: Cluster, make_oci_image: Any, e2e_tmp: Path) -> None:
    skopeo = Skopeo(e2e_tmp / "sk")
    image: OciLayoutImage = make_oci_image()
    repository = f"docker://{cluster.address}/{REGISTRY}/skopeo"
    digest_file = e2e_tmp / "pushed.digest"
    since = log_lengths(cluster)

    skopeo.copy(image.ref, f"{repository}:v1", "--dest-creds", cluster.ci.creds, "--digestfile", str(digest_file))
    skopeo.copy(f"{repository}:v1", f"oci:{e2e_tmp / 'back'}:v1", "--src-creds", cluster.ci.creds)

    assert digest_file.read_text().strip() == image.manifest_digest
    pulled = skopeo.run("inspect", "--raw", f"oci:{e2e_tmp / 'back'}:v1").stdout
    assert sha256_digest(pulled) == image.manifest_digest
    assert all(count > 0 for count in served_by_each(cluster, since)), served_by_each(cluster, since)


def test_podman_pushes_and_pulls_through_three_processes(cluster: Cluster, e2e_tmp: Path) -> None:
    podman = LoginPodman(e2e_tmp / "pm")
    context = write_hello_context(e2e_tmp / "ctx")
    ref = f"{cluster.address}/{REGISTRY}/podman:v1"
    digest_file = e2e_tmp / "pushed.digest"
    podman.run("build", "--isolation", "chroot", "-t", ref, str(context))
    assert "Login Succeeded" in output(podman.login(cluster.address, cluster.ci))
    since = log_lengths(cluster)

    podman.run("push", "--tls-verify=false", "--digestfile", str(digest_file), ref)
    podman.run("rmi", ref)
    podman.run("pull", "--tls-verify=false", ref)

    pulled = podman.run("image", "inspect", "--format", "{{.Digest}}", ref).stdout.decode().strip()
    assert pulled == digest_file.read_text().strip()
    assert all(count > 0 for count in served_by_each(cluster, since)), served_by_each(cluster, since)


def test_a_chunked_upload_moves_to_another_process_at_every_chunk(cluster: Cluster) -> None:
    data = os.urandom(3 * 1024 * 1024 + 17)
    chunks = [data[start : start + 1024 * 1024] for start in range(0, len(data), 1024 * 1024)]
    with requests.Session() as session:
        session.auth = (cluster.ci.username, cluster.ci.secret)
        started = session.post(f"{cluster.url}/v2/{REGISTRY}/chunked/blobs/uploads/", timeout=60)
        assert started.status_code == 202, started.text
        location, offset, backends = started.headers["Location"], 0, [started.headers["X-Backend"]]
        for chunk in chunks:
            patched = session.patch(
                absolute(cluster, location), data=chunk, timeout=60,
                headers={"Content-Range": f"{offset}-{offset + len(chunk) - 1}",
                         "Content-Type": "application/octet-stream"},
            )  # fmt: skip
            assert patched.status_code == 202, patched.text
            assert patched.headers["Range"] == f"0-{offset + len(chunk) - 1}"
            location, offset = patched.headers["Location"], offset + len(chunk)
            backends.append(patched.headers["X-Backend"])
        digest = sha256_digest(data)
        finished = session.put(absolute(cluster, location), params={"digest": digest}, timeout=60)
        assert finished.status_code == 201, finished.text
        backends.append(finished.headers["X-Backend"])
        pulled = session.get(f"{cluster.url}/v2/{REGISTRY}/chunked/blobs/{digest}", timeout=60)

    assert all(a != b for a, b in itertools.pairwise(backends)), backends
    assert len(set(backends)) == PROCESSES
    assert pulled.status_code == 200 and pulled.content == data


def test_gc_started_on_two_processes_at_once_runs_once(cluster: Cluster) -> None:
    answers: list[requests.Response] = []
    barrier = threading.Barrier(2)

    def collect(server: RegistryServer) -> None:
        with requests.Session() as session:
            session.auth = (ADMIN, cluster.admin_password)
            barrier.wait()
            answers.append(session.post(f"{server.url}/api/v1/gc", json={"grace": "0s"}, timeout=300))

    threads = [threading.Thread(target=collect, args=(server,)) for server in cluster.servers[:2]]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    statuses = sorted(answer.status_code for answer in answers)
    # Either one ran while the other was refused (409, a run in progress), or the first finished before the
    # second began; never two runs at the same time.
    assert statuses in ([200, 409], [200, 200]), [answer.text for answer in answers]
    if statuses == [200, 200]:
        first, second = (answer.json() for answer in answers)
        assert first["finished_at"] <= second["started_at"] or second["finished_at"] <= first["started_at"]


def test_a_process_killed_in_the_middle_of_a_push_loses_nothing_acknowledged(cluster: Cluster) -> None:
    victim, survivor = cluster.servers[2], cluster.servers[1]
    pushed = [Image(f"acked-{n}", (layer(f"acked-{n}", 4096),)) for n in range(3)]
    client = Client(victim.url, cluster.ci.username, cluster.ci.secret)
    for number, image in enumerate(pushed):
        client.push(f"{REGISTRY}/crash", image, f"v{number}")
    client.close()
    # A push in the middle of a chunked upload: its first chunk acknowledged, then the process dies.
    big = layer("crash-layer", 2 * 1024 * 1024)
    with requests.Session() as session:
        session.auth = (cluster.ci.username, cluster.ci.secret)
        started = session.post(f"{victim.url}/v2/{REGISTRY}/crash/blobs/uploads/", timeout=60)
        location = started.headers["Location"]
        half = len(big) // 2
        patched = session.patch(
            absolute_on(victim, location), data=big[:half], timeout=60,
            headers={"Content-Range": f"0-{half - 1}", "Content-Type": "application/octet-stream"},
        )  # fmt: skip
        assert patched.status_code == 202
        victim.kill9()

        # The client retries on another process: the upload goes on where the acknowledged chunk ended.
        status = session.get(absolute_on(survivor, location), timeout=60)
        assert status.status_code == 204 and status.headers["Range"] == f"0-{half - 1}"
        finished = session.put(
            absolute_on(survivor, location), params={"digest": sha256_digest(big)}, data=big[half:], timeout=60,
            headers={"Content-Type": "application/octet-stream"},
        )  # fmt: skip
        assert finished.status_code == 201, finished.text
        blob = session.get(f"{survivor.url}/v2/{REGISTRY}/crash/blobs/{sha256_digest(big)}", timeout=60)
        assert blob.content == big

    reader = Client(survivor.url, cluster.ci.username, cluster.ci.secret)
    for image in pushed:
        reader.pull(f"{REGISTRY}/crash", image)
    reader.close()
    victim.restart()
    assert requests.get(f"{victim.url}/v2/", headers=basic_auth(cluster.ci), timeout=30).status_code == 200


def absolute(cluster: Cluster, location: str) -> str:
    return location if location.startswith("http") else cluster.url + location


def absolute_on(server: RegistryServer, location: str) -> str:
    """The same upload URL on `server` (a Location names whichever host the request came through)."""
    path = location.split("://", 1)[1].split("/", 1)[1] if location.startswith("http") else location.lstrip("/")
    return f"{server.url}/{path}"
