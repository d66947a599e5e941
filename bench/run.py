"""Benchmark Shipshape against CNCF Distribution 2.8, side by side, in one run.

    /work/main/.venv/bin/python bench/run.py [--size-gib 1] [--quick] [--workers 2]
                                             [--targets distribution,shipshape]

Starts both registries on 127.0.0.1 (each with its own temp storage), then, for each repetition and each
measurement, runs it against one target and then the other, flipping the order every repetition:

1. push of a blob: monolithic (POST + PUT), POST + one PATCH + PUT, and 16 MiB chunks (PATCH x n + PUT);
2. pull of that blob (GET, discarded, byte count checked), 3 times per repetition as it is quick and noisy;
3. manifest GET by tag with wrk (32 connections), after pushing a small OCI image; non-2xx must be zero;
   and Shipshape alone with authentication off, with Basic and with a Bearer token (``manifest_get_auth``:
   a second Shipshape, same options plus ``--auth``, set up through its management API; see auth.py);
4. manifest PUT: N distinct OCI image manifests, each under a new tag ``v1.0.<n>``, over ``--put-clients`` (16)
   aiohttp connections, after uploading their config and layer blobs (see putload.py); every answer must be 201;
   and Shipshape alone with authentication off and with ``--auth`` pushing into a development and a production
   registry, whose policies are then applied (``manifest_put``; the same second Shipshape, a ``ci`` credential);
5. peak memory during a push of twice the blob size, from /proc, over the server process and all its
   descendants: VmRSS summed, PSS summed (the one judged against the target), and the largest single VmRSS.

Medians go to Markdown tables in docs/benchmarks.md (between markers) and to stdout. Everything runs in a
temp dir under /tmp that is removed at the end, along with the data file; only processes this harness
started are stopped, by PID. ``--targets distribution,distribution`` checks the harness without Shipshape.
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

import auth
import blobdata
import client
import loadgen
import metadata_db
import putload
import report
import servers
from blobdata import Blob, DataFile
from servers import Memory, MemorySampler, Server

MiB = 1 << 20
REPO_ROOT = Path(__file__).resolve().parent.parent
BLOB_REPO = "bench/blob"
IMAGE_REPO = "bench/image"
IMAGE_TAG = "v1"
KNOWN_TARGETS = ("distribution", "shipshape")
PUT_REPO = "bench/put"
MEASUREMENTS = (
    "push_put",
    "push_patch",
    "push_chunked",
    "pull",
    "manifest_get",
    "manifest_get_auth",
    "manifest_put",
    "rss_push",
)
AUTH_KEYS = tuple(m.key for m in report.AUTH_METRICS)  # the manifest_get_auth set: off, Basic, Bearer
PUT_KEYS = tuple(m.key for m in report.PUT_METRICS)  # manifest_put on Shipshape: off, development, production
AUTH_KIND = "shipshape-auth"  # the Server.kind of the Shipshape with --auth (not a column of the main table)


# --- options ---------------------------------------------------------------------------------------------


def parse_args(argv: list[str]) -> argparse.Namespace:
    default_shipshape = Path(sys.executable).parent / "shipshape"
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--size-gib", type=float, help="blob size for push/pull (default 1; 0.25 with --quick)")
    p.add_argument("--rss-size-gib", type=float, help="blob size for the RSS push (default 2 x --size-gib)")
    p.add_argument("--chunk-mib", type=int, default=16, help="chunk size of the chunked push (default 16)")
    p.add_argument("--reps", type=int, help="repetitions; the median is reported (default 3; 1 with --quick)")
    p.add_argument("--quick", action="store_true", help="1 repetition, 0.25 GiB blobs, 3 s wrk runs")
    p.add_argument("--workers", type=int, default=2, help="shipshape --workers N (0: omit the flag)")
    p.add_argument(
        "--targets",
        default="distribution,shipshape",
        help="two comma-separated targets, baseline first (distribution|shipshape)",
    )
    p.add_argument("--pulls-per-rep", type=int, default=3, help="pulls per repetition (cheap, noisy)")
    p.add_argument("--wrk-seconds", type=int, help="duration of each wrk run (default 10; 3 with --quick)")
    p.add_argument("--wrk-threads", type=int, default=2)
    p.add_argument("--wrk-connections", type=int, default=32)
    p.add_argument("--put-manifests", type=int, help="manifests per manifest_put run (default 3000; 500 with --quick)")
    p.add_argument("--put-clients", type=int, default=16, help="concurrent connections of manifest_put (default 16)")
    p.add_argument("--only", help=f"comma-separated subset of {','.join(MEASUREMENTS)} (for development)")
    p.add_argument("--shipshape-bin", default=str(default_shipshape))
    p.add_argument(
        "--shipshape-log-level",
        default="warning",
        help="shipshape --log-level (default warning, as quiet as Distribution's config; '' to omit)",
    )
    p.add_argument(
        "--shipshape-arg",
        action="append",
        default=[],
        help="extra argument for `shipshape serve` (repeatable)",
    )
    p.add_argument(
        "--postgres",
        action="store_true",
        help="Shipshape's metadata on a throwaway PostgreSQL (scripts/test-postgres), a database per server",
    )
    p.add_argument("--distribution-bin", default=servers.DISTRIBUTION_BIN)
    p.add_argument("--tmp-root", default="/tmp", help="where the temp dir goes (default /tmp)")
    p.add_argument("--docs", type=Path, default=REPO_ROOT / "docs" / "benchmarks.md")
    p.add_argument("--no-docs", action="store_true", help="print the table, do not touch the docs")
    args = p.parse_args(argv)
    args.size_gib = args.size_gib or (0.25 if args.quick else 1.0)
    args.rss_size_gib = args.rss_size_gib or 2 * args.size_gib
    args.reps = args.reps or (1 if args.quick else 3)
    args.wrk_seconds = args.wrk_seconds or (3 if args.quick else 10)
    args.put_manifests = args.put_manifests or (500 if args.quick else 3000)
    args.targets = [t.strip() for t in args.targets.split(",") if t.strip()]
    if not 1 <= len(args.targets) <= 2 or any(t not in KNOWN_TARGETS for t in args.targets):
        p.error(f"--targets takes one or two of {', '.join(KNOWN_TARGETS)}")
    if args.only and not set(args.only.split(",")) <= set(MEASUREMENTS):
        p.error(f"--only takes a subset of {','.join(MEASUREMENTS)}")
    if (
        min(args.reps, args.pulls_per_rep, args.chunk_mib, args.put_manifests, args.put_clients) < 1
        or args.size_gib <= 0
        or args.rss_size_gib <= 0
    ):
        p.error("sizes and --reps must be positive")
    return args


def gib_to_bytes(gib: float) -> int:
    """Round to whole MiB so that chunk boundaries and labels stay simple."""
    return max(1, round(gib * 1024)) * MiB


def human_size(n: int) -> str:
    return f"{n / (1 << 30):g} GiB" if n >= 1 << 30 else f"{n / MiB:g} MiB"


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# --- results ---------------------------------------------------------------------------------------------


@dataclass
class Results:
    samples: dict[str, dict[str, list[float]]] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    wrk: dict[str, list[loadgen.WrkResult]] = field(default_factory=dict)  # server label or AUTH_KEYS key
    puts: dict[str, list[putload.PutResult]] = field(default_factory=dict)  # server label or PUT_KEYS key
    rss_push_mbps: dict[str, list[float]] = field(default_factory=dict)

    def add(self, key: str, label: str, value: float) -> None:
        self.samples.setdefault(key, {}).setdefault(label, []).append(value)


def memory_values(when: str, memory: Memory) -> dict[str, float]:
    """The three memory metrics (MB) of ``when`` (push, run or idle), keyed as in report.METRICS."""
    return {
        f"rss_{when}": memory.rss_sum / 1e6,
        f"pss_{when}": memory.pss_sum / 1e6,
        f"rss_{when}_max": memory.rss_max / 1e6,
    }


def timed(fn: Callable[[], None]) -> float:
    """Seconds taken by ``fn``, after flushing dirty pages so earlier writes do not leak into this one."""
    os.sync()
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


# --- measurements ----------------------------------------------------------------------------------------


def push_fn(key: str, chunk: int) -> Callable[[client.Registry, str, Blob], None]:
    if key == "push_put":
        return client.push_monolithic
    if key == "push_patch":
        return client.push_patch_put
    return lambda reg, repo, blob: client.push_chunked(reg, repo, blob, chunk)


def measure_push(server: Server, key: str, data: DataFile, size: int, chunk: int) -> tuple[float, Blob]:
    """Push a fresh blob of ``size`` bytes; return (MB/s, blob)."""
    blob = data.unique_blob(size)
    fn = push_fn(key, chunk)
    with client.Registry(server.host, server.port) as reg:
        seconds = timed(lambda: fn(reg, BLOB_REPO, blob))
    return blob.size / seconds / 1e6, blob


def measure_pull(server: Server, blob: Blob) -> float:
    with client.Registry(server.host, server.port) as reg:
        seconds = timed(lambda: client.pull_blob(reg, BLOB_REPO, blob))
    return blob.size / seconds / 1e6


def verify_content(server: Server, blob: Blob, results: Results) -> None:
    """Untimed: pull one pushed blob again and check its digest, so wrong bytes cannot pass as fast ones."""
    try:
        with client.Registry(server.host, server.port) as reg:
            client.verify_blob(reg, BLOB_REPO, blob)
        log(f"verified the content of {blob.digest[:19]}… on {server.label}")
    except Exception as exc:
        results.errors.append(f"content check on {server.label}: {exc}")
        log(f"FAILED content check on {server.label}: {exc}")


def prepare_manifest(server: Server) -> None:
    with client.Registry(server.host, server.port) as reg:
        manifest = client.push_small_image(reg, IMAGE_REPO, IMAGE_TAG)
        client.check_manifest(reg, IMAGE_REPO, IMAGE_TAG, manifest)


def measure_manifest(
    server: Server,
    args: argparse.Namespace,
    path: str = f"/v2/{IMAGE_REPO}/manifests/{IMAGE_TAG}",
    authorization: str | None = None,
) -> loadgen.WrkResult:
    """wrk on one manifest; any non-2xx answer (wrk's "Non-2xx or 3xx responses" line) fails the measurement."""
    headers = {"Accept": client.OCI_MANIFEST}
    if authorization is not None:
        headers["Authorization"] = authorization
    os.sync()
    result = loadgen.run_wrk(
        f"http://{server.host}:{server.port}{path}", headers, args.wrk_threads, args.wrk_connections, args.wrk_seconds
    )
    if not result.clean:
        raise RuntimeError(
            f"wrk saw {result.non_2xx_3xx} non-2xx/3xx responses and {result.socket_errors} socket errors"
            f" in {result.requests} requests"
        )
    return result


def measure_auth(key: str, auth_set: auth.AuthSet, args: argparse.Namespace) -> loadgen.WrkResult:
    """One run of the manifest_get_auth set; a Bearer run gets a token fetched right before it."""
    if key == "manifest_get_noauth":
        server, authorization = auth_set.plain, None
    else:
        server = auth_set.server
        authorization = auth_set.bearer() if key == "manifest_get_bearer" else auth_set.credential
        if authorization is None:
            raise RuntimeError("no credential: the setup of the authenticated server failed")
        auth_set.check(server, authorization)
    return measure_manifest(server, args, auth.manifest_path(), authorization)


def prepare_put(server: Server) -> putload.Image:
    """Untimed: upload the config and layer blobs that the manifest_put manifests reference."""
    with client.Registry(server.host, server.port) as reg:
        return putload.upload_image(reg, PUT_REPO)


def measure_put(
    server: Server,
    repo: str,
    image: putload.Image,
    first: int,
    args: argparse.Namespace,
    authorization: str | None = None,
) -> putload.PutResult:
    """PUT ``--put-manifests`` new manifests (tags from ``first`` on); then GET the first and last one back."""
    os.sync()
    result = putload.put_manifests(
        server.host, server.port, repo, image, first, args.put_manifests, args.put_clients, authorization
    )
    with client.Registry(server.host, server.port, authorization=authorization) as reg:
        for n in (first, first + args.put_manifests - 1):
            client.check_manifest(reg, repo, putload.tag_for(n), image.manifest(n))
    return result


def measure_rss_push(server: Server, data: DataFile, size: int) -> tuple[Memory, float]:
    """Peak memory while pushing a fresh ``size``-byte blob monolithically; and its MB/s."""
    blob = data.unique_blob(size)
    with client.Registry(server.host, server.port) as reg, MemorySampler(server) as sampler:
        seconds = timed(lambda: client.push_monolithic(reg, BLOB_REPO, blob))
    return sampler.peak, blob.size / seconds / 1e6


# --- the run ---------------------------------------------------------------------------------------------


def start_targets(args: argparse.Namespace, tmp: Path, started: list[Server]) -> auth.AuthSet | None:
    """Start every target, appending each to ``started`` as soon as it runs (so it is always stopped);
    then, for manifest_get_auth and manifest_put, a second Shipshape with ``--auth``, returned with the first."""
    duplicate = len(set(args.targets)) < len(args.targets)
    for i, kind in enumerate(args.targets):
        label = f"{kind}-{'ab'[i]}" if duplicate else kind
        workdir = tmp / label
        workdir.mkdir()
        if kind == "distribution":
            server = servers.start_distribution(label, workdir, args.distribution_bin)
            server.title = f"Distribution {servers.distribution_version(args.distribution_bin)}"
        else:
            workers = args.workers or None
            server = servers.start_shipshape(
                label, workdir, args.shipshape_bin, workers, args.shipshape_log_level, _shipshape_args(args, label)
            )
            if args.cluster is not None:
                server.title += " on PostgreSQL"
        if duplicate:
            server.title += f" ({'AB'[i]})"
            server.short += f" {'AB'[i]}"
        started.append(server)
        log(f"started {server.title} as {label}: pid {server.pid}, port {server.port}")
    plain = next((s for s in started if s.kind == "shipshape"), None)
    if plain is None or not {"manifest_get_auth", "manifest_put"} & selected_measurements(args):
        return None
    label, password = "shipshape-auth", auth.new_password()
    (tmp / label).mkdir()
    workers = args.workers or None
    secured = servers.start_shipshape(
        label, tmp / label, args.shipshape_bin, workers, args.shipshape_log_level, _shipshape_args(args, label),
        password,
    )  # fmt: skip
    secured.kind, secured.title = AUTH_KIND, secured.title + " with --auth"
    started.append(secured)
    log(f"started {secured.title} as {label}: pid {secured.pid}, port {secured.port}")
    return auth.AuthSet(plain, secured, password)


def _shipshape_args(args: argparse.Namespace, label: str) -> list[str]:
    """`--shipshape-arg`s, and with `--postgres` the URL of a new database of the run's cluster for `label`."""
    if args.cluster is None:
        return list(args.shipshape_arg)
    return [*args.shipshape_arg, "--database-url", args.cluster.database(label)]


UNITS = {m.key: m.unit for m in report.METRICS + report.AUTH_METRICS + report.PUT_METRICS}


@dataclass
class Bench:
    """One run's inputs and results; ``measure`` runs one measurement against one server."""

    args: argparse.Namespace
    data: DataFile
    results: Results
    pushed: dict[str, Blob] = field(default_factory=dict)  # server label -> last blob pushed by push_put
    auth: auth.AuthSet | None = None  # the servers of manifest_get_auth and of manifest_put's policy set
    put_images: dict[str, putload.Image] = field(default_factory=dict)  # server label -> blobs in PUT_REPO
    next_tag: dict[tuple[str, str], int] = field(default_factory=dict)  # (server label, repo) -> next n

    def measure(self, key: str, server: Server) -> dict[str, float]:
        """Run measurement ``key``; return the value of each metric it yields (rss_push yields three)."""
        size, chunk = gib_to_bytes(self.args.size_gib), self.args.chunk_mib * MiB
        if key.startswith("push_"):
            mbps, blob = measure_push(server, key, self.data, size, chunk)
            if key == "push_put":
                self.pushed[server.label] = blob
            return {key: mbps}
        if key == "pull":
            return {key: measure_pull(server, self.pushed[server.label])}
        if key == "manifest_get":
            res = measure_manifest(server, self.args)
            self.results.wrk.setdefault(server.label, []).append(res)
            return {key: res.requests_per_sec}
        if key in AUTH_KEYS and self.auth is not None:
            res = measure_auth(key, self.auth, self.args)
            self.results.wrk.setdefault(key, []).append(res)
            return {key: res.requests_per_sec}
        if key == "manifest_put" or key in PUT_KEYS:
            return {key: self.measure_put(key, server)}
        if key == "rss_push":
            peak, mbps = measure_rss_push(server, self.data, gib_to_bytes(self.args.rss_size_gib))
            self.results.rss_push_mbps.setdefault(server.label, []).append(mbps)
            return memory_values("push", peak)
        raise ValueError(key)

    def measure_put(self, key: str, server: Server) -> float:
        """One manifest_put run: the main pair's (``manifest_put``) or a variant of the policy set; tags never
        repeat within a repository, as a production registry's tags are immutable."""
        if key == "manifest_put":
            repo, authorization = PUT_REPO, None
            image = self.put_images.get(server.label)
        elif self.auth is not None:
            variant = key.removeprefix("manifest_put_")
            server, repo, authorization = self.auth.put_target(variant)
            image = self.auth.images.get(variant)
        else:
            raise ValueError(key)
        if image is None:
            raise RuntimeError(f"no blobs in {repo} on {server.label}: its setup failed")
        first = self.next_tag.get((server.label, repo), 0)
        self.next_tag[(server.label, repo)] = first + self.args.put_manifests
        result = measure_put(server, repo, image, first, self.args, authorization)
        self.results.puts.setdefault(key if key in PUT_KEYS else server.label, []).append(result)
        return result.rate

    def attempt(self, rep: int, key: str, server: Server) -> None:
        """Run one measurement and record it; on failure record the error and carry on."""
        what = f"rep {rep + 1} {key:<19} {server.label:<16}"
        try:
            values = self.measure(key, server)
        except Exception as exc:
            self.results.errors.append(f"{' '.join(what.split())}: {exc}")
            log(f"{what} FAILED: {exc}")
            return
        for metric, value in values.items():
            self.results.add(metric, server.label, value)
        if list(values) == [key]:
            log(f"{what} {values[key]:10.1f} {UNITS[key]}")
        else:
            log(f"{what} " + ", ".join(f"{k} {v:,.1f} {UNITS[k]}" for k, v in values.items()))

    def run_rep(self, rep: int, order: list[Server], only: set[str]) -> None:
        """Every selected measurement once per server (pulls ``--pulls-per-rep`` times), in ``order``;
        manifest_get_auth runs its three variants in an order rotated by one every repetition, and manifest_put
        its policy set (after the pair) likewise."""
        for key in MEASUREMENTS:
            if key not in only:
                continue
            if key == "manifest_get_auth":
                self.rotated(rep, AUTH_KEYS)
                continue
            for _ in range(self.args.pulls_per_rep if key == "pull" else 1):
                for server in order:
                    self.attempt(rep, key, server)
            if key == "manifest_put":
                self.rotated(rep, PUT_KEYS)

    def rotated(self, rep: int, keys: tuple[str, ...]) -> None:
        """A set of Shipshape-only variants, in an order rotated by one every repetition; recorded in the
        plain Shipshape's column."""
        if self.auth is None:
            return
        shift = rep % len(keys)
        for variant in keys[shift:] + keys[:shift]:
            self.attempt(rep, variant, self.auth.plain)


def check_disk(tmp: Path, args: argparse.Namespace) -> None:
    size, rss = gib_to_bytes(args.size_gib), gib_to_bytes(args.rss_size_gib)
    need = rss + len(args.targets) * args.reps * (3 * size + rss) * 1.1
    free = shutil.disk_usage(tmp).free
    if free < need:
        raise SystemExit(f"need about {need / 1e9:.1f} GB free under {tmp}, have {free / 1e9:.1f} GB")


def check_tools(args: argparse.Namespace) -> None:
    needed = [args.distribution_bin, loadgen.WRK_BIN]
    if "shipshape" in args.targets:
        needed.append(args.shipshape_bin)
    missing = [t for t in needed if shutil.which(t) is None]
    if missing:
        raise SystemExit(f"missing: {', '.join(missing)}")


def notes_for(
    args: argparse.Namespace,
    results: Results,
    ceiling: tuple[float, float],
    started: list[Server],
    interference: Interference,
) -> list[str]:
    titles = {s.label: s.title for s in started}
    copies = f" ({args.workers + 1} times with `--workers {args.workers}`)" if args.workers else ""
    notes = []
    if interference.others > 0.1 or interference.steal > 0.05:
        notes.append(
            f"**Noisy machine:** {interference}, so single samples vary a lot; the alternating order "
            "spreads the noise over both registries, but quote numbers from a quiet machine."
        )
    notes += [
        f"Client ceiling (this harness's HTTP client against a do-nothing in-process server, same blob "
        "size, best of 3): "
        f"push {ceiling[0]:,.0f} MB/s, pull {ceiling[1]:,.0f} MB/s — the client is not the bottleneck "
        "while both servers stay well below these.",
        "Client, servers and wrk share the same cores; wrk uses "
        f"{args.wrk_threads} threads and {args.wrk_connections} connections for {args.wrk_seconds} s with "
        "`Accept: application/vnd.oci.image.manifest.v1+json` on `/v2/bench/image/manifests/v1`.",
        "Each push sends a new blob (the data file plus a 32-byte nonce), so the registry must receive, "
        "hash and store every byte; after the run one blob per registry is pulled again and its digest "
        "checked. `sync` runs before every measurement. Repetitions alternate which registry goes first.",
        "Distribution runs with `log.level: warn` and its access log disabled (its fastest setting), "
        "filesystem storage, `storage.delete.enabled: true` and the in-memory blob descriptor cache. "
        f"Shipshape runs with {shipshape_flags(args)}, its default storage (SQLite and files in a fresh "
        "data dir), and no SHIPSHAPE_* variables from the environment.",
        "**The memory target (< 100 MB) is judged on the PSS sum, not the RSS sum.** Shipshape's workers "
        "are forked from a supervisor after all imports, so until written to, their pages are shared "
        "copy-on-write with the supervisor and with each other. VmRSS counts such a page in every process "
        f"that maps it, so the RSS sum counts it once per process{copies} and overstates the memory in "
        "use; PSS (`Pss:` in /proc/PID/smaps_rollup) divides each shared page among the processes that map "
        "it, so the PSS sum counts it once. Distribution is a single process, whose PSS ≈ RSS, and is "
        "judged the same way. The RSS sum (VmRSS from /proc/PID/status) and the RSS of the largest single "
        "process are still shown. All three are read over the server process and all its descendants, "
        "every 20 ms during the memory push and every 100 ms over the whole run; each row is its own peak, "
        "possibly from a different sample than the others. Reading PSS costs more than VmRSS (the kernel "
        "walks each process's page tables), so the sampler takes more CPU during the memory push, whose "
        "MB/s below is not comparable with the timed pushes above. The memory push is monolithic "
        "(POST + PUT).",
    ]
    for label in titles:
        runs = results.wrk.get(label, [])
        if runs:
            notes.append(f"wrk against {titles[label]}, per run: {wrk_summary(runs)}.")
        mbps = results.rss_push_mbps.get(label)
        if mbps:
            pss, rss, rss_max = (
                report.median(results.samples.get(key, {}).get(label, []))
                for key in ("pss_push", "rss_push", "rss_push_max")
            )
            notes.append(
                f"{titles[label]}, peak memory during the {args.rss_size_gib:g} GiB push (median): "
                f"PSS sum {pss or 0:,.1f} MB (judged against the target), RSS sum {rss or 0:,.1f} MB, "
                f"largest single process {rss_max or 0:,.1f} MB; the push ran at "
                + ", ".join(f"{v:,.0f}" for v in mbps)
                + " MB/s."
            )
    auth_runs = [key for key in AUTH_KEYS if results.wrk.get(key)]
    if auth_runs:
        notes.append(
            f"Authentication rows: wrk with the same options on `{auth.manifest_path()}` (pushed to both "
            "Shipshapes), with `Authorization: Basic` of a `ci` credential (pull and push on registries "
            f"`{auth.REGISTRY}` and `{auth.PROD_REGISTRY}`, created through the management API) or "
            "`Authorization: Bearer` of a pull token fetched from `/auth/token` with that credential right before "
            "each run; before each run, one GET "
            "with the same header must return the pushed manifest. Per run: "
            + "; ".join(f"{k.removeprefix('manifest_get_')}: {wrk_summary(results.wrk[k])}" for k in auth_runs)
            + "."
        )
    if any(results.rss_push_mbps.values()) and any(results.puts.values()):
        per_rep = args.put_manifests * (2 if "manifest_put_noauth" in results.puts else 1)
        notes.append(
            "The memory push of each repetition runs after its manifest PUT runs, so by then the Shipshape "
            f"without authentication has stored {per_rep} more manifests per repetition so far: its memory is "
            "measured with them."
        )
    puts = [label for label in titles if results.puts.get(label)]
    put_runs = [key for key in PUT_KEYS if results.puts.get(key)]
    if puts or put_runs:
        notes.append(
            f"Manifest PUT: {args.put_manifests} distinct OCI image manifests per run (the same config and 4 KiB "
            "layer, uploaded once beforehand; the manifests differ in one annotation), each under a new tag "
            f"`v1.0.<n>`, sent by {args.put_clients} aiohttp workers on one keep-alive connection each, from the "
            "harness process; every answer must be 201 with the manifest's digest, and after each run the first "
            "and last manifest are read back. Rate = manifests / wall time of the run. Per run: "
            + "; ".join(f"{titles[label]}: {putload.summary(results.puts[label])}" for label in puts)
            + "."
        )
    if put_runs:
        notes.append(
            f"Policy rows: the same PUT runs into `{auth.PUT_REPOS['dev']}` of the Shipshape without authentication, "
            f"and into `{auth.PUT_REPOS['dev']}` (registry `{auth.REGISTRY}`, environment development) and "
            f"`{auth.PUT_REPOS['prod']}` (registry `{auth.PROD_REGISTRY}`, production: immutable tags, semver, date "
            "or commit tags only, `latest` `dev` `test` `stable` denied, ci credentials only) of the one with "
            "`--auth`, with `Authorization: Basic` of the `ci` credential; so the ratio covers authentication, "
            "reading the registry's policy and applying it. Before the runs, the production registry refused tag "
            "`latest`, a second manifest under an existing tag, and a push by `admin`. Per run: "
            + "; ".join(f"{k.removeprefix('manifest_put_')}: {putload.summary(results.puts[k])}" for k in put_runs)
            + "."
        )
    if args.targets == ["distribution", "distribution"]:
        notes.append("Dry run: Distribution against itself; ratios show the harness's noise, not Shipshape.")
    notes += [f"Error: {e}" for e in results.errors]
    return notes


def wrk_summary(runs: list[loadgen.WrkResult]) -> str:
    return (
        f"requests {'/'.join(str(r.requests) for r in runs)}, latency p50 {'/'.join(r.latency_p50 for r in runs)}"
        f", p99 {'/'.join(r.latency_p99 for r in runs)}; non-2xx/3xx responses {sum(r.non_2xx_3xx for r in runs)}"
        f", socket errors {sum(r.socket_errors for r in runs)}"
    )


def selected_measurements(args: argparse.Namespace) -> set[str]:
    only = set(args.only.split(",")) if args.only else set(MEASUREMENTS)
    if "pull" in only:
        only.add("push_put")  # the pull reads the blob that push_put stored
    if "shipshape" not in args.targets:
        only.discard("manifest_get_auth")  # Shipshape with and without authentication: nothing to do
        # (manifest_put then runs for the pair only: its policy set needs a Shipshape)
    return only


def prepare_data(args: argparse.Namespace, tmp: Path) -> tuple[DataFile, tuple[float, float]]:
    """Generate the random data file; measure the client's ceiling (best of 3) with it."""
    size, rss_size = gib_to_bytes(args.size_gib), gib_to_bytes(args.rss_size_gib)
    log(f"generating {human_size(max(size, rss_size))} of random data in {tmp}")
    t0 = time.perf_counter()
    data = blobdata.generate(tmp / "blob.bin", max(size, rss_size), [size, rss_size])
    log(f"generated in {time.perf_counter() - t0:.1f} s")
    tries = [client.client_ceiling(data.unique_blob(size)) for _ in range(3)]
    ceiling = (max(t[0] for t in tries), max(t[1] for t in tries))
    log(f"client ceiling: push {ceiling[0]:,.0f} MB/s, pull {ceiling[1]:,.0f} MB/s")
    return data, ceiling


def measure_all(
    args: argparse.Namespace, data: DataFile, started: list[Server], auth_set: auth.AuthSet | None
) -> tuple[Results, Interference]:
    """Idle RSS, then every repetition (alternating order), then a content check; and the interference.

    ``started`` also holds the Shipshape with --auth, which only manifest_get_auth and manifest_put measure."""
    only = selected_measurements(args)
    results = Results()
    bench = Bench(args, data, results, auth=auth_set)
    targets = [s for s in started if s.kind != AUTH_KIND]
    time.sleep(1)
    for server in targets:
        for key, value in memory_values("idle", server.tree_memory()).items():
            results.add(key, server.label, value)
        if "manifest_get" in only:
            try:
                prepare_manifest(server)
            except Exception as exc:  # manifest_get will then fail and be reported too
                results.errors.append(f"pushing the small image to {server.label}: {exc}")
                log(f"FAILED pushing the small image to {server.label}: {exc}")
        if "manifest_put" in only:
            try:
                bench.put_images[server.label] = prepare_put(server)
            except Exception as exc:  # manifest_put will then fail and be reported too
                results.errors.append(f"uploading the manifest_put blobs to {server.label}: {exc}")
                log(f"FAILED uploading the manifest_put blobs to {server.label}: {exc}")
    if auth_set is not None:
        try:
            auth_set.prepare(get="manifest_get_auth" in only, put="manifest_put" in only)
            log(f"{auth_set.server.label}: registries, credential, image and blobs ready; access and policies checked")
        except Exception as exc:  # manifest_get_auth will then fail and be reported too
            results.errors.append(f"setting up {auth_set.server.label}: {exc}")
            log(f"FAILED setting up {auth_set.server.label}: {exc}")
    whole_run = [MemorySampler(s, interval=0.1, max_seconds=6 * 3600).start() for s in targets]
    cpu_before = CpuSnapshot.take(started)
    try:
        for rep in range(args.reps):
            bench.run_rep(rep, targets if rep % 2 == 0 else targets[::-1], only)
    finally:
        for sampler in whole_run:
            try:
                peak = sampler.stop()
            except RuntimeError as exc:
                results.errors.append(str(exc))
                continue
            for key, value in memory_values("run", peak).items():
                results.add(key, sampler.server.label, value)
    interference = Interference.between(cpu_before, CpuSnapshot.take(started))
    for server in targets:
        if server.label in bench.pushed:
            verify_content(server, bench.pushed[server.label], results)
    return results, interference


def run(args: argparse.Namespace, tmp: Path, started: list[Server]) -> report.Report:
    begun = time.strftime("%Y-%m-%d %H:%M %Z")
    load_before = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    data, ceiling = prepare_data(args, tmp)
    auth_set = start_targets(args, tmp, started)
    results, interference = measure_all(args, data, started, auth_set)
    targets = [s for s in started if s.kind != AUTH_KIND]
    only = selected_measurements(args)

    distribution = servers.distribution_version(args.distribution_bin)
    machine = report.machine_info(distribution, shipshape_version(started, args))
    machine["Load average before the run"] = load_before
    machine["Interference during the measurements"] = str(interference)
    params = {
        "size": human_size(gib_to_bytes(args.size_gib)),
        "rss_size": human_size(gib_to_bytes(args.rss_size_gib)),
        "chunk": human_size(args.chunk_mib * MiB),
        "wrk": f"wrk -t{args.wrk_threads} -c{args.wrk_connections} -d{args.wrk_seconds}s",
        "put": f"{args.put_manifests} manifests, {args.put_clients} connections",
    }
    return report.Report(
        command=command_line(),
        columns=[report.Column(s.label, s.title, s.short) for s in targets],
        params=params,
        reps=args.reps,
        pulls_per_rep=args.pulls_per_rep,
        samples=results.samples,
        machine=machine,
        notes=notes_for(args, results, ceiling, targets, interference),
        started=begun,
        auth_column=auth_set.plain.label if auth_set is not None and "manifest_get_auth" in only else None,
        put_column=auth_set.plain.label if auth_set is not None and "manifest_put" in only else None,
    )


def shipshape_flags(args: argparse.Namespace) -> str:
    """The options this run passes to `shipshape serve` besides --listen and --data-dir."""
    flags = [*(["--workers", str(args.workers)] if args.workers else [])]
    flags += ["--log-level", args.shipshape_log_level] if args.shipshape_log_level else []
    flags += args.shipshape_arg
    return f"`{shlex.join(flags)}`" if flags else "no extra options"


def shipshape_version(started: list[Server], args: argparse.Namespace) -> str | None:
    if not any(s.kind == "shipshape" for s in started):
        return None
    return f"{report.shipshape_version(REPO_ROOT)}, run with {shipshape_flags(args)}"


def command_line() -> str:
    """This run's command, prefixed with a ``cd`` unless it ran from the repository root."""
    command = shlex.join([sys.executable, *sys.argv])
    cwd = Path.cwd()
    return command if cwd == REPO_ROOT else f"cd {shlex.quote(str(cwd))} && {command}"


@dataclass(frozen=True)
class CpuSnapshot:
    """Machine-wide CPU counters (/proc/stat) and the CPU used by this harness, wrk and the servers."""

    machine: list[int]  # user nice system idle iowait irq softirq steal, in clock ticks
    ours: float  # clock ticks

    @classmethod
    def take(cls, started: list[Server]) -> CpuSnapshot:
        machine = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
        t = os.times()  # children: wrk (and any server already reaped)
        ours = (t.user + t.system + t.children_user + t.children_system) * servers.CLOCK_TICKS
        return cls(machine, ours + sum(s.tree_cpu_ticks() for s in started))


@dataclass(frozen=True)
class Interference:
    """Shares of all CPU time, while measuring, taken by other processes and by the hypervisor (steal)."""

    others: float
    steal: float

    @classmethod
    def between(cls, before: CpuSnapshot, after: CpuSnapshot) -> Interference:
        delta = [b - a for a, b in zip(before.machine, after.machine, strict=True)]
        total = max(1, sum(delta))
        busy = total - delta[3] - delta[4] - delta[7]
        others = max(0.0, busy - (after.ours - before.ours))
        return cls(others / total, delta[7] / total)

    def __str__(self) -> str:
        return f"other processes used {self.others:.0%} of all CPU time, hypervisor steal {self.steal:.1%}"


def _terminate(signum: int, _frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    check_tools(args)
    signal.signal(signal.SIGTERM, _terminate)
    tmp = Path(tempfile.mkdtemp(prefix="shipshape-bench-", dir=args.tmp_root))
    started: list[Server] = []
    args.cluster = metadata_db.Cluster(tmp / "pg") if args.postgres else None
    try:
        check_disk(tmp, args)
        if args.cluster is not None:
            args.cluster.start()
            log(f"PostgreSQL for Shipshape's metadata at {args.cluster.url}")
        rendered = report.render(run(args, tmp, started))
    except servers.StartupError as exc:
        log(f"FAILED: {exc}")
        return 1
    finally:
        for server in started:
            if server.proc is not None and server.proc.poll() is not None:
                log(f"{server.label} had exited (code {server.proc.returncode}); its log ends:\n" + server.log_tail())
            server.stop()
            log(f"stopped {server.label} (pid {server.pid})")
        if args.cluster is not None:
            args.cluster.stop()
        shutil.rmtree(tmp, ignore_errors=True)
        log(f"removed {tmp}")
    print(rendered)
    if not args.no_docs:
        report.write_section(args.docs, rendered)
        log(f"wrote {args.docs}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
