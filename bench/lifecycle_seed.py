"""Seeded stores for the storage-lifecycle benchmarks (bench/lifecycle.py), and the servers run on them.

Seeding goes straight through SQL.
The schema is created the way `shipshape serve` creates it (`shipshape.metadata.migrate.migrate`, the Alembic
migrations), then the rows a push would have written go in with SQLAlchemy Core bulk inserts against
`shipshape.metadata.tables`, on an engine set up as the server's writers are (WAL, foreign keys on, a busy
timeout), so that it may also add garbage to the database of a running server.

A seeded registry holds `images` one-layer images over 100 repositories `REGISTRY/appN`: each image has its own
config and layer blob and shares one of 20 base layers; push times are spread over 90 days; one in three is
untagged, one in three has a `build-N` tag, one in three a release tag `v1.X.Y`; each repository's newest image
is also `latest`; one in four was pulled (1 to 500 times, last at a random moment since its push, so some within
the 7-day protection window of retention). Garbage: blobs linked two hours ago that no manifest references.
With `files`, every blob also gets a real file of its size at the filesystem store's path.

`Lab` starts `shipshape serve` on such a data dir (and the other servers), notes the CPU other processes take while
measuring, and holds the admin password of every server it starts with `--auth`.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import random
import sqlite3
import statistics
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import auth
import client
import run
import servers
import sqlalchemy as sa
from servers import Server

from shipshape.metadata.engine import SQLITE_BUSY_TIMEOUT_MS, database_url, sqlite_engine
from shipshape.metadata.migrate import migrate
from shipshape.metadata.tables import (
    blobs,
    manifest_blobs,
    manifest_pulls,
    manifests,
    repositories,
    repository_blobs,
    tags,
)

API = "/api/v1"
REGISTRY = "bench"
REPOSITORIES = 100
BASE_LAYERS = 20
SPAN = timedelta(days=90)
GARBAGE_AGE = timedelta(hours=2)
CHUNK = 10_000  # rows per INSERT executemany
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
Row = dict[str, Any]
T = TypeVar("T")
NOISY = 0.10  # a round during which other processes took more than this share of all CPU time is run again


@dataclass(frozen=True)
class Seeded:
    """What `seed` wrote."""

    images: int
    blobs: int  # referenced blobs: 2 per image plus the base layers
    tagged: int
    pulled: int


def database(data_dir: Path) -> str:
    """The metadata URL `shipshape serve --data-dir DATA_DIR` uses."""
    return f"sqlite:///{(data_dir / 'metadata.db').resolve()}"


def images_for_blobs(total: int, garbage: int) -> int:
    """How many images make `total` blobs with `garbage` of them unreferenced (rounded down to whole images)."""
    return (total - garbage - BASE_LAYERS) // 2


def _digest(text: str) -> str:
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def _writer(data_dir: Path) -> sa.Engine:
    return sqlite_engine(
        database_url(database(data_dir)), begin="BEGIN IMMEDIATE", busy_timeout_ms=SQLITE_BUSY_TIMEOUT_MS, pool_size=1
    )


def _insert(connection: sa.Connection, table: sa.Table, rows: Sequence[Row]) -> None:
    for start in range(0, len(rows), CHUNK):
        connection.execute(sa.insert(table), rows[start : start + CHUNK])


def seed(data_dir: Path, images: int, *, small: bool, files: bool, seed_value: int = 9) -> Seeded:
    """Create the schema in `data_dir` (which holds no database yet) and seed `images` images of `REGISTRY`.

    `small`: blob sizes of a few KiB (a store whose files are written), else realistic sizes (MB layers)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    migrate(database(data_dir))
    rng = random.Random(seed_value)
    now = datetime.now(UTC)
    sizes: dict[str, int] = {}

    def blob(digest: str, size: int, at: datetime) -> None:
        if digest in sizes:
            return
        sizes[digest] = size
        rows["blobs"].append({"digest": digest, "size": size, "created_at": at, "state": "stored"})

    rows: dict[str, list[Row]] = {name: [] for name in ("blobs", "links", "manifests", "refs", "tags", "pulls")}
    bases = [(_digest(f"base {b}"), rng.randint(1, 4) * 1024 if small else rng.randint(20, 60) << 20)
             for b in range(BASE_LAYERS)]  # fmt: skip
    first = now - SPAN
    linked: set[tuple[int, str]] = set()
    newest: dict[int, tuple[datetime, str]] = {}
    tagged = pulled = 0
    for n in range(images):
        repository = n % REPOSITORIES + 1
        pushed = first + SPAN * (n + rng.random()) / images
        base_digest, base_size = bases[(n * 7 + repository) % BASE_LAYERS]
        config = (_digest(f"config {n}"), rng.randint(600, 3000))
        layer = (_digest(f"layer {n}"), rng.randint(1, 4) * 1024 if small else rng.randint(1 << 20, 80 << 20))
        for digest, size in (config, layer, (base_digest, base_size)):
            blob(digest, size, pushed)  # a base layer: when first used
        payload = json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": OCI_MANIFEST,
                "config": {"mediaType": OCI_CONFIG, "digest": config[0], "size": config[1]},
                "layers": [
                    {"mediaType": OCI_LAYER, "digest": digest, "size": size}
                    for digest, size in ((base_digest, base_size), layer)
                ],
            },
            separators=(",", ":"),
        ).encode()
        manifest_id, manifest_digest = n + 1, "sha256:" + hashlib.sha256(payload).hexdigest()
        last_pulled = pushed + (now - pushed) * rng.random() if n % 4 == 0 else None
        count = rng.randint(1, 500) if last_pulled is not None else 0
        rows["manifests"].append(
            {"id": manifest_id, "repository_id": repository, "digest": manifest_digest, "media_type": OCI_MANIFEST,
             "annotations": {}, "payload": payload, "created_at": pushed, "arrived_by": "ci",
             "pull_count": count, "last_pulled_at": last_pulled}
        )  # fmt: skip
        if last_pulled is not None:
            pulled += 1
            rows["pulls"].append(
                {
                    "manifest_id": manifest_id,
                    "puller": "prod-cluster",
                    "pull_count": count,
                    "last_pulled_at": last_pulled,
                }
            )
        for digest in (config[0], layer[0], base_digest):
            rows["refs"].append(
                {"manifest_id": manifest_id, "digest": digest, "repository_id": repository, "size": sizes[digest]}
            )
            if (repository, digest) not in linked:
                linked.add((repository, digest))
                rows["links"].append({"repository_id": repository, "digest": digest, "created_at": pushed})
        tag = (None, f"build-{n}", f"v1.{n // 300}.{n % 300}")[n % 3]
        if tag is not None:
            tagged += 1
            rows["tags"].append({"repository_id": repository, "name": tag, "manifest_digest": manifest_digest,
                                 "updated_at": pushed})  # fmt: skip
        newest[repository] = (pushed, manifest_digest)
    for repository, (pushed, manifest_digest) in newest.items():
        rows["tags"].append({"repository_id": repository, "name": "latest", "manifest_digest": manifest_digest,
                             "updated_at": pushed})  # fmt: skip
    engine = _writer(data_dir)
    try:
        with engine.begin() as connection:
            names = [{"id": r + 1, "name": f"{REGISTRY}/app{r}"} for r in range(REPOSITORIES)]
            connection.execute(sa.insert(repositories), names)
            for table, key in ((blobs, "blobs"), (repository_blobs, "links"), (manifests, "manifests"),
                               (manifest_blobs, "refs"), (tags, "tags"), (manifest_pulls, "pulls")):  # fmt: skip
                _insert(connection, table, rows[key])
    finally:
        engine.dispose()
    if files:
        write_files(data_dir, sizes.items(), now - GARBAGE_AGE)
    return Seeded(images, len(sizes), tagged, pulled)


def add_garbage(data_dir: Path, count: int, batch: str) -> list[str]:
    """`count` blobs (with files) linked `GARBAGE_AGE` ago in the seeded repositories, no manifest referencing them;
    safe while a server runs on `data_dir`. Returns their digests."""
    rng = random.Random(batch)
    old = datetime.now(UTC) - GARBAGE_AGE
    found = [(_digest(f"garbage {batch} {n}"), rng.randint(1, 4) * 1024) for n in range(count)]
    write_files(data_dir, found, old)  # files before rows, as an upload does
    engine = _writer(data_dir)
    try:
        with engine.begin() as connection:
            _insert(
                connection, blobs, [{"digest": d, "size": s, "created_at": old, "state": "stored"} for d, s in found]
            )
            _insert(
                connection,
                repository_blobs,
                [
                    {"repository_id": n % REPOSITORIES + 1, "digest": d, "created_at": old}
                    for n, (d, _) in enumerate(found)
                ],
            )
    finally:
        engine.dispose()
    return [digest for digest, _ in found]


def _blob_path(data_dir: Path, digest: str) -> Path:
    encoded = digest.split(":", 1)[1]
    return data_dir / "blobs" / "sha256" / encoded[:2] / encoded


def write_files(data_dir: Path, found: Iterable[tuple[str, int]], at: datetime) -> None:
    """A file of `size` bytes per blob at `blobs/sha256/xx/<hex>` (FilesystemBlobStore's layout), dated `at`."""
    moment = at.timestamp()
    made: set[Path] = set()
    for digest, size in found:
        path = _blob_path(data_dir, digest)
        if path.parent not in made:
            path.parent.mkdir(parents=True, exist_ok=True)
            made.add(path.parent)
        path.write_bytes(b"\0" * size)
        os.utime(path, (moment, moment))


def count_blob_files(data_dir: Path) -> int:
    return sum(len(files) for _, _, files in os.walk(data_dir / "blobs"))


def query(data_dir: Path, sql: str, *params: object) -> int:
    """One integer from the database (read-only; the server may be running)."""
    connection = sqlite3.connect(f"file:{data_dir / 'metadata.db'}?mode=ro", uri=True, timeout=30)
    try:
        (value,) = connection.execute(sql, params).fetchone()
        return int(value)
    finally:
        connection.close()


def blobs_present(data_dir: Path, digests: Sequence[str]) -> tuple[int, int]:
    """How many of `digests` still have a row, and a file."""
    rows = sum(
        query(data_dir, f"SELECT count(*) FROM blobs WHERE digest IN ({','.join('?' * len(part))})", *part)
        for part in (digests[i : i + 500] for i in range(0, len(digests), 500))
    )
    return rows, sum(1 for digest in digests if _blob_path(data_dir, digest).exists())


# --- servers on seeded stores, and small helpers of bench/lifecycle.py ------------------------------------


def spread(values: list[float], fmt: str = ".2f") -> str:
    """Median [min, max]."""
    return f"{statistics.median(values):{fmt}} [{min(values):{fmt}}, {max(values):{fmt}}]"


def ratios(a: list[float], b: list[float]) -> list[float]:
    """Per-round a / b."""
    return [x / y for x, y in zip(a, b, strict=True)]


def flipped(items: list[T], rnd: int) -> list[T]:
    """The order of round `rnd`: as given in even rounds, reversed in odd ones."""
    return items if rnd % 2 == 0 else items[::-1]


class Lab:
    """The temp dir, the admin password and every server started (all stopped at the end)."""

    def __init__(self, args: argparse.Namespace, tmp: Path) -> None:
        self.args, self.tmp, self.password = args, tmp, auth.new_password()
        self.started: list[Server] = []
        self.interference: list[run.Interference] = []
        self.discarded = 0

    def rounds(self, one: Callable[[int], T]) -> list[T]:
        """`--rounds` results of `one(round)`. A round during which other processes took more than `NOISY` of all
        CPU time is run again, up to `--rounds` times per benchmark (then kept as it is)."""
        kept: list[T] = []
        retries = self.args.rounds
        while len(kept) < self.args.rounds:
            self.wait_quiet()
            mark = len(self.interference)
            result = one(len(kept))
            worst = max((i.others for i in self.interference[mark:]), default=0.0)
            if worst > NOISY and retries > 0:
                retries -= 1
                self.discarded += 1
                run.log(f"round {len(kept) + 1} discarded: other processes took {worst:.0%} of the CPU; again")
                continue
            kept.append(result)
        return kept

    def wait_quiet(self, window: float = 2.0, limit: float = 300.0) -> None:
        """Wait until other processes take at most `NOISY` of all CPU time over `window` s (at most `limit` s)."""
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            with self.measuring():
                time.sleep(window)
            if self.interference.pop().others <= NOISY:
                return
        run.log(f"the machine stayed busy for {limit:.0f} s: measuring anyway")

    @contextlib.contextmanager
    def measuring(self) -> Iterator[None]:
        """Note the CPU share other processes (and the hypervisor) took while the block ran."""
        alive = [s for s in self.started if s.proc is not None and s.proc.poll() is None]
        before = run.CpuSnapshot.take(alive)
        yield
        self.interference.append(run.Interference.between(before, run.CpuSnapshot.take(alive)))

    def interference_note(self) -> str:
        (found, self.interference), (discarded, self.discarded) = (self.interference, []), (self.discarded, 0)
        if not found:
            return ""
        others, steal = [i.others for i in found], [i.steal for i in found]
        return (
            f"While measuring, other processes used {statistics.median(others):.0%} of all CPU time (median of the "
            f"{len(found)} measurements; at most {max(others):.0%}), hypervisor steal at most {max(steal):.1%}; "
            f"{discarded} round(s) discarded and run again as others took more than {NOISY:.0%}."
        )

    def shipshape(self, label: str, data: Path | None, *extra: str, secured: bool = True, workers: int = 1) -> Server:
        """`shipshape serve` on `data` (given after the helper's own --data-dir, so it wins), or a fresh dir."""
        workdir = self.tmp / f"{label}-{len(self.started)}"
        workdir.mkdir()
        data_args = ["--data-dir", str(data)] if data is not None else []
        server = servers.start_shipshape(
            label, workdir, self.args.shipshape_bin, workers if workers > 1 else None, "warning",
            [*data_args, "--gc-interval", "24h", "--retention-interval", "24h", *extra],
            self.password if secured else None,
        )  # fmt: skip
        self.started.append(server)
        return server

    @contextlib.contextmanager
    def running(self, label: str, data: Path) -> Iterator[Server]:
        server = self.shipshape(label, data)
        try:
            settle(server)
            yield server
        finally:
            server.stop()

    def admin(self, server: Server) -> client.Registry:
        return client.Registry(server.host, server.port, 900, auth.basic(auth.ADMIN, self.password))


def settle(server: Server, quiet: float = 1.0, limit: float = 120.0) -> None:
    """Wait until the server's processes use (almost) no CPU for `quiet` s: start-up jobs (usage snapshots) done."""
    deadline, last = time.monotonic() + limit, server.tree_cpu_ticks()
    while time.monotonic() < deadline:
        time.sleep(quiet)
        now = server.tree_cpu_ticks()
        if now - last <= 2:
            return
        last = now


def api(reg: client.Registry, method: str, path: str, body: object = None, expect: int = 200) -> object:
    # Writes go as JSON, if only `{}`: the management API takes nothing else there.
    data = json.dumps(body if body is not None else {}).encode() if method in ("POST", "PUT", "PATCH") else None
    headers = {"Content-Type": "application/json"} if data is not None else {}
    resp = reg.request(method, API + path, headers, data, expect=expect)
    return json.loads(resp.body) if resp.body else None


def timed_api(
    lab: Lab, server: Server, method: str, path: str, body: object = None, quiet: bool = True
) -> tuple[float, dict[str, object]]:
    """Seconds from the request to the last byte of the answer, after an authenticated warm-up request (and, if
    `quiet`, a sync so that earlier writes do not land in the measurement)."""
    with lab.admin(server) as reg:
        api(reg, "GET", "/registries")
        if quiet:
            os.sync()
        with lab.measuring() if quiet else contextlib.nullcontext():
            started = time.perf_counter()
            found = api(reg, method, path, body)
            seconds = time.perf_counter() - started
    assert isinstance(found, dict)
    return seconds, found
