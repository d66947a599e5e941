"""Online garbage collection against a real `shipshape serve --auth`: what a run frees after a deletion, the
invariant under concurrent pushes, deletions, retention runs and collections (the server's own loop and runs asked
for over the API), and a server killed in the middle of a run."""

from __future__ import annotations

import hashlib
import itertools
import os
import random
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import requests

from .auth_support import ADMIN, failed
from .gc_support import Client, Image, blob_files, layer, metadata_rows, upload_files
from .policy_support import Acme, acme_world
from .support import Skopeo, file_digest, regular_files, sha256_digest, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]

KiB = 1024


@pytest.fixture
def world_args() -> tuple[str, ...]:
    return ()


@pytest.fixture
def acme(request: pytest.FixtureRequest, world_args: tuple[str, ...]) -> Iterator[Acme]:
    """A server of its own for each test: a test's assertions cover every blob the server holds."""
    with acme_world("ssg-", extra_args=world_args) as acme:
        yield acme
        if failed(request):
            print(f"server logs:\n{acme.world.server.log_tail()}")


def client(acme: Acme) -> Client:
    """The ci credential on /v2/ (pull, push and delete in every acme registry)."""
    return Client(acme.url, acme.ci.username, acme.ci.secret)


def admin_session(acme: Acme) -> requests.Session:
    session = requests.Session()
    session.auth = (ADMIN, acme.world.admin_password)
    return session


def data_dir(acme: Acme) -> Path:
    return acme.world.server.data_dir


def pull_with_skopeo(skopeo: Skopeo, acme: Acme, reference: str, into: Path, image: Image) -> None:
    """skopeo copies the image into an OCI layout; every blob it wrote hashes to its name, the image's are all there."""
    skopeo.copy(acme.ref(reference), f"oci:{into}:pulled", "--src-creds", acme.ci.creds)
    files = {f"sha256:{path.name}": path for path in regular_files(into / "blobs" / "sha256")}
    assert set(image.blobs) | {image.digest} <= set(files)
    for digest, path in files.items():
        assert file_digest(path) == digest


def test_gc_after_deleting_an_image_frees_exactly_its_own_blobs(acme: Acme, skopeo: Skopeo, e2e_tmp: Path) -> None:
    shared = layer("shared base", 192 * KiB)
    doomed = Image("doomed", (shared, layer("doomed own", 96 * KiB)))
    kept = Image("kept", (shared, layer("kept own", 64 * KiB)))
    ci = client(acme)
    ci.push("acme-dev/shop", doomed, "old")
    ci.push("acme-dev/shop", kept, "new")
    settled = acme.world.admin.json("gc", "run", "--grace", "0s")  # everything is referenced: nothing to free
    assert (settled["blobs_deleted"], settled["bytes_freed"]) == (0, 0)

    deleted = acme.world.cli("ci", acme.ci.username, acme.ci.secret).json("image", "delete", "acme-dev/shop:old")
    assert deleted["digest"] == doomed.digest
    dry = acme.world.admin.json("gc", "run", "--grace", "0s", "--dry-run")
    report = acme.world.admin.json("gc", "run", "--grace", "0s")

    own = {digest: data for digest, data in doomed.blobs.items() if digest not in kept.blobs}
    assert len(own) == 2  # the doomed image's config and own layer; the shared layer stays
    assert report["blobs_deleted"] == dry["blobs_deleted"] == len(own)
    assert report["bytes_freed"] == dry["bytes_freed"] == sum(len(data) for data in own.values())
    assert dry["dry_run"] and not report["dry_run"]
    assert set(blob_files(data_dir(acme))) == set(kept.blobs)
    assert ci.manifest_status("acme-dev/shop", doomed.digest) == 404
    ci.pull("acme-dev/shop", kept)
    pull_with_skopeo(skopeo, acme, "acme-dev/shop:new", e2e_tmp / "kept", kept)
    again = acme.world.admin.json("gc", "run", "--grace", "0s")
    assert again["blobs_deleted"] == 0 and again["links_dropped"] == 0


# The invariant: pushes, deletions, retention runs and collections at once

PUSHERS = 4
# Collections during the soak keep what is younger than this: with 0, on a loaded machine a run can drop a push's
# blob links before its manifest arrives every time it retries. The final run uses 0.
SOAK_GRACE = "2s"
IMAGES_PER_PUSHER = int(os.environ.get("SHIPSHAPE_GC_SOAK_IMAGES", "150"))
SHARED_LAYERS = [layer(f"pool {n}", (16 + 24 * n) * KiB) for n in range(6)]
REPOSITORIES = ("acme-dev/app", "acme-dev/web", "acme-dev/tools/cli")
RETENTION = (
    "protect-pulled-within: 0s\n"
    "rules:\n"
    "  - {name: expire-scratch, action: expire, tags: ['scratch-*'], pushed-before: 0s}\n"
)


class Soak:
    """What the concurrent phase did: the images that must pull afterwards, and those that must be gone."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.kept: dict[str, tuple[str, Image]] = {}  # digest -> (repository, image)
        self.gone: dict[str, str] = {}  # digest -> repository
        self.scratch: dict[str, str] = {}  # digest -> repository (retention's to delete)
        self.pushing = threading.Event()
        self.pushing.set()
        self.first_kept = threading.Event()
        self.collections = 0
        self.busy = 0
        self.retention_deleted = 0
        self.pulls = 0
        self.retries = 0


def soak_image(pusher: int, n: int) -> Image:
    """Two shared layers (in different combinations) and one of its own."""
    chosen = random.Random(f"{pusher}/{n}").sample(SHARED_LAYERS, 2)
    return Image(f"pusher {pusher} image {n}", (*chosen, layer(f"own {pusher} {n}", 8 * KiB)))


def push_images(acme: Acme, pusher: int, soak: Soak) -> None:
    """Push images; one in four is a scratch build (retention expires it), one in four is deleted by hand a little
    later, the rest are kept."""
    ci = client(acme)
    pending_delete: list[tuple[str, Image]] = []
    try:
        for n in range(IMAGES_PER_PUSHER):
            image, repository = soak_image(pusher, n), REPOSITORIES[(pusher + n) % len(REPOSITORIES)]
            kind = ("keep", "scratch", "keep", "delete")[n % 4]
            ci.push(repository, image, f"{kind}-{pusher}-{n}")
            with soak.lock:
                if kind == "scratch":
                    soak.scratch[image.digest] = repository
                elif kind == "keep":
                    soak.kept[image.digest] = (repository, image)
                    soak.first_kept.set()
            if kind == "delete":
                pending_delete.append((repository, image))
            if len(pending_delete) > 1:  # delete the one before, so deletions and pushes overlap
                gone_repository, gone = pending_delete.pop(0)
                ci.delete(gone_repository, gone.digest)
                with soak.lock:
                    soak.gone[gone.digest] = gone_repository
        for gone_repository, gone in pending_delete:
            ci.delete(gone_repository, gone.digest)
            with soak.lock:
                soak.gone[gone.digest] = gone_repository
    finally:
        with soak.lock:
            soak.retries += ci.retries
        ci.close()


def collect_over_the_api(acme: Acme, soak: Soak) -> None:
    """`POST /api/v1/gc` with a short grace until the pushers are done (the server's own loop runs too: some answers are
    409, a run already in progress)."""
    with admin_session(acme) as session:
        while soak.pushing.is_set():
            answer = session.post(f"{acme.url}/api/v1/gc", json={"grace": SOAK_GRACE}, timeout=120)
            if answer.status_code == 409:
                soak.busy += 1
                continue
            assert answer.status_code == 200, answer.text
            soak.collections += 1


def run_retention(acme: Acme, soak: Soak) -> None:
    with admin_session(acme) as session:
        while soak.pushing.is_set():
            answer = session.post(f"{acme.url}/api/v1/registries/acme-dev/retention/run", json={}, timeout=120)
            if answer.status_code == 409:
                continue
            assert answer.status_code == 200, answer.text
            soak.retention_deleted += len(answer.json()["candidates"])


def pull_kept_images(acme: Acme, soak: Soak) -> None:
    """Pulls go on during collections: every kept image pulls whole at any moment."""
    ci = client(acme)
    try:
        for round_ in itertools.count():
            if not soak.pushing.is_set():
                return
            with soak.lock:
                kept = list(soak.kept.values())
            if not kept:
                soak.first_kept.wait(timeout=60)
                continue
            repository, image = kept[round_ % len(kept)]
            ci.pull(repository, image)
            soak.pulls += 1
            if round_ > 100_000:
                raise AssertionError("the pull loop did not end")
    finally:
        ci.close()


@pytest.mark.parametrize("world_args", [("--gc-interval", "1s", "--gc-grace", "2s")])
def test_concurrent_pushes_deletions_retention_and_gc_lose_nothing_kept(
    acme: Acme, skopeo: Skopeo, e2e_tmp: Path
) -> None:
    rules = e2e_tmp / "retention.yaml"
    rules.write_text(RETENTION)
    acme.world.admin.run("retention", "set", "acme-dev", str(rules))
    soak = Soak()
    with ThreadPoolExecutor(max_workers=PUSHERS + 3) as pool:
        background = [
            pool.submit(collect_over_the_api, acme, soak),
            pool.submit(run_retention, acme, soak),
            pool.submit(pull_kept_images, acme, soak),
        ]
        try:
            pushers = [pool.submit(push_images, acme, number, soak) for number in range(PUSHERS)]
            for future in pushers:
                future.result()
        finally:
            soak.pushing.clear()
        for future in background:
            future.result()

    last_retention = acme.world.admin.json("retention", "run", "acme-dev")  # scratch builds pushed since the last run
    last = acme.world.admin.json("gc", "run", "--grace", "0s")
    print(
        f"images kept={len(soak.kept)} deleted={len(soak.gone)} scratch={len(soak.scratch)} "
        f"collections={soak.collections} busy={soak.busy} retention_deleted={soak.retention_deleted} "
        f"pulls={soak.pulls} push_retries={soak.retries}; last gc: {last}"
    )

    assert soak.collections >= 2 and soak.retention_deleted > 0, vars(soak)
    assert soak.retention_deleted + len(last_retention["candidates"]) == len(soak.scratch)
    ci = client(acme)
    for repository, image in soak.kept.values():
        ci.pull(repository, image)
    for digest, repository in {**soak.gone, **soak.scratch}.items():
        assert ci.manifest_status(repository, digest) == 404, f"{repository}@{digest} should be gone"
    referenced = {digest for _, image in soak.kept.values() for digest in image.blobs}
    files = blob_files(data_dir(acme))
    assert set(files) == referenced, "every unreferenced blob is gone, every referenced one is there"
    for digest, path in files.items():
        assert file_digest(path) == digest
    assert upload_files(data_dir(acme)) == set()
    for n, (digest, (repository, image)) in enumerate(sorted(soak.kept.items())[:3]):
        pull_with_skopeo(skopeo, acme, f"{repository}@{digest}", e2e_tmp / f"pulled{n}", image)


# A crash in the middle of a run

JUNK_BLOBS = 3000
WATCHED = 50  # the first blobs a run deletes (it goes in digest order): the kill comes as the first one goes


def upload_junk(acme: Acme, count: int) -> list[str]:
    """`count` small blobs uploaded to acme-dev/junk that no manifest references; their digests."""
    blobs = [f"junk {n}".encode() * 8 for n in range(count)]

    def upload(batch: list[bytes]) -> None:
        ci = client(acme)
        try:
            for data in batch:
                ci._upload("acme-dev/junk", sha256_digest(data), data)
        finally:
            ci.close()

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(upload, [blobs[n::8] for n in range(8)]))
    return sorted(sha256_digest(data) for data in blobs)


def blob_path(data: Path, digest: str) -> Path:
    found = blob_files(data).get(digest)
    assert found is not None, f"no file for {digest}"
    return found


def assert_metadata_points_only_at_bytes(data: Path) -> None:
    """Every blob row in state `stored` has its file, hashing to its digest; every link is to a stored blob."""
    stored = [digest for (digest,) in metadata_rows(data, "SELECT digest FROM blobs WHERE state = 'stored'")]
    files = blob_files(data)
    missing = [digest for digest in stored if digest not in files]
    assert not missing, f"{len(missing)} stored blobs have no bytes, e.g. {missing[:3]}"
    for digest in stored:
        assert "sha256:" + hashlib.sha256(files[digest].read_bytes()).hexdigest() == digest
    dangling = metadata_rows(
        data,
        "SELECT repository_blobs.digest FROM repository_blobs"
        " LEFT JOIN blobs ON blobs.digest = repository_blobs.digest"
        " WHERE blobs.digest IS NULL OR blobs.state != 'stored'",
    )
    assert dangling == [], f"links to blobs that are not stored: {dangling[:3]}"


def test_kill_9_in_the_middle_of_gc_leaves_no_metadata_pointing_at_missing_bytes(
    acme: Acme, skopeo: Skopeo, e2e_tmp: Path
) -> None:
    kept = Image("kept through the crash", (layer("kept base", 128 * KiB), layer("kept app", 32 * KiB)))
    ci = client(acme)
    ci.push("acme-dev/app", kept, "v1")
    junk = upload_junk(acme, JUNK_BLOBS)
    data = data_dir(acme)
    watched = [blob_path(data, digest) for digest in junk[:WATCHED]]
    outcome: dict[str, Any] = {}

    def collect() -> None:
        try:
            with admin_session(acme) as session:
                outcome["answer"] = session.post(f"{acme.url}/api/v1/gc", json={"grace": "0s"}, timeout=300)
        except requests.RequestException as error:
            outcome["error"] = error

    collector = threading.Thread(target=collect, daemon=True)
    collector.start()
    wait_until(
        lambda: not all(path.exists() for path in watched) or not collector.is_alive(),
        timeout=120,
        interval=0.002,
        what="the run to delete its first blob",
    )
    acme.world.server.kill9()
    collector.join(timeout=60)
    left = set(blob_files(data))
    assert "answer" not in outcome, f"the run finished before the kill: {outcome}"
    assert 0 < len(left & set(junk)) < len(junk), "the kill came in the middle of the deletions"
    assert_metadata_points_only_at_bytes(data)
    rows_left = metadata_rows(data, "SELECT count(*) FROM blobs")[0][0]

    acme.world.server.restart()
    report = acme.world.admin.json("gc", "run", "--grace", "0s")  # the dead run's lease is taken over at once

    assert report["blobs_deleted"] == rows_left - len(kept.blobs)
    assert set(blob_files(data)) == set(kept.blobs)
    assert_metadata_points_only_at_bytes(data)
    ci = client(acme)
    ci.pull("acme-dev/app", kept)
    pull_with_skopeo(skopeo, acme, "acme-dev/app:v1", e2e_tmp / "after", kept)
    ci.push("acme-dev/junk", Image("after the crash", (layer("after", 4 * KiB),)), "v1")
