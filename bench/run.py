"""Benchmark Shipshape against CNCF Distribution 2.8, side by side, in one run.

    /work/main/.venv/bin/python bench/run.py [--size-gib 1] [--quick] [--workers 2]
                                             [--targets distribution,shipshape]

Starts both registries on 127.0.0.1 (each with its own temp storage), then, for each repetition and each
measurement, runs it against one target and then the other, flipping the order every repetition:

1. push of a blob: monolithic (POST + PUT), POST + one PATCH + PUT, and 16 MiB chunks (PATCH x n + PUT);
2. pull of that blob (GET, discarded, byte count checked);
3. manifest GET by tag with wrk (32 connections), after pushing a small OCI image; non-2xx must be zero;
4. peak RSS (server process + all descendants, from /proc) during a push of twice the blob size.

Medians go to a Markdown table in docs/benchmarks.md (between markers) and to stdout. Everything runs in a
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
from functools import partial
from pathlib import Path
from types import FrameType

import blobdata
import client
import loadgen
import report
import servers
from blobdata import Blob, DataFile
from servers import RssSampler, Server

MiB = 1 << 20
REPO_ROOT = Path(__file__).resolve().parent.parent
BLOB_REPO = "bench/blob"
IMAGE_REPO = "bench/image"
IMAGE_TAG = "v1"
KNOWN_TARGETS = ("distribution", "shipshape")
MEASUREMENTS = ("push_put", "push_patch", "push_chunked", "pull", "manifest_get", "rss_push")


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
    p.add_argument("--wrk-seconds", type=int, help="duration of each wrk run (default 10; 3 with --quick)")
    p.add_argument("--wrk-threads", type=int, default=2)
    p.add_argument("--wrk-connections", type=int, default=32)
    p.add_argument("--only", help=f"comma-separated subset of {','.join(MEASUREMENTS)} (for development)")
    p.add_argument("--shipshape-bin", default=str(default_shipshape))
    p.add_argument(
        "--shipshape-arg",
        action="append",
        default=[],
        help="extra argument for `shipshape serve` (repeatable)",
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
    args.targets = [t.strip() for t in args.targets.split(",") if t.strip()]
    if not 1 <= len(args.targets) <= 2 or any(t not in KNOWN_TARGETS for t in args.targets):
        p.error(f"--targets takes one or two of {', '.join(KNOWN_TARGETS)}")
    if args.only and not set(args.only.split(",")) <= set(MEASUREMENTS):
        p.error(f"--only takes a subset of {','.join(MEASUREMENTS)}")
    if args.reps < 1 or args.chunk_mib < 1 or args.size_gib <= 0 or args.rss_size_gib <= 0:
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
    wrk: dict[str, list[loadgen.WrkResult]] = field(default_factory=dict)
    rss_push_mbps: dict[str, list[float]] = field(default_factory=dict)

    def add(self, key: str, label: str, value: float) -> None:
        self.samples.setdefault(key, {}).setdefault(label, []).append(value)


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


def prepare_manifest(server: Server) -> None:
    with client.Registry(server.host, server.port) as reg:
        manifest = client.push_small_image(reg, IMAGE_REPO, IMAGE_TAG)
        client.check_manifest(reg, IMAGE_REPO, IMAGE_TAG, manifest)


def measure_manifest(server: Server, args: argparse.Namespace) -> loadgen.WrkResult:
    url = f"http://{server.host}:{server.port}/v2/{IMAGE_REPO}/manifests/{IMAGE_TAG}"
    os.sync()
    result = loadgen.run_wrk(
        url, {"Accept": client.OCI_MANIFEST}, args.wrk_threads, args.wrk_connections, args.wrk_seconds
    )
    if not result.clean:
        raise RuntimeError(
            f"wrk saw {result.non_2xx_3xx} non-2xx/3xx responses and {result.socket_errors} socket errors"
        )
    return result


def measure_rss_push(server: Server, data: DataFile, size: int) -> tuple[float, float]:
    """Peak summed VmRSS (MB) while pushing a fresh ``size``-byte blob monolithically; and its MB/s."""
    blob = data.unique_blob(size)
    with client.Registry(server.host, server.port) as reg, RssSampler(server) as sampler:
        seconds = timed(lambda: client.push_monolithic(reg, BLOB_REPO, blob))
    return sampler.peak / 1e6, blob.size / seconds / 1e6


# --- the run ---------------------------------------------------------------------------------------------


def start_targets(args: argparse.Namespace, tmp: Path) -> list[Server]:
    duplicate = len(set(args.targets)) < len(args.targets)
    started: list[Server] = []
    for i, kind in enumerate(args.targets):
        label = f"{kind}-{'ab'[i]}" if duplicate else kind
        workdir = tmp / label
        workdir.mkdir()
        if kind == "distribution":
            server = servers.start_distribution(label, workdir, args.distribution_bin)
            server.title = f"Distribution {servers.distribution_version(args.distribution_bin)}"
        else:
            workers = args.workers or None
            server = servers.start_shipshape(label, workdir, args.shipshape_bin, workers, args.shipshape_arg)
        if duplicate:
            server.title += f" ({'AB'[i]})"
        log(f"started {server.title} as {label}: pid {server.pid}, port {server.port}")
        started.append(server)
    return started


def attempt(results: Results, what: str, fn: Callable[[], None]) -> bool:
    """Run one measurement; on failure record the error and carry on with the others."""
    try:
        fn()
        return True
    except Exception as exc:
        results.errors.append(f"{what}: {exc}")
        log(f"FAILED {what}: {exc}")
        return False


def run_rep(
    rep: int, order: list[Server], data: DataFile, args: argparse.Namespace, results: Results, only: set[str]
) -> None:
    size = gib_to_bytes(args.size_gib)
    chunk = args.chunk_mib * MiB
    pushed: dict[str, Blob] = {}
    for key in ("push_put", "push_patch", "push_chunked"):
        if key not in only:
            continue
        for server in order:

            def push(server: Server = server, key: str = key) -> None:
                mbps, blob = measure_push(server, key, data, size, chunk)
                results.add(key, server.label, mbps)
                pushed.setdefault(server.label, blob)
                log(f"rep {rep + 1} {key:<13} {server.label:<16} {mbps:9.1f} MB/s")

            attempt(results, f"rep {rep + 1} {key} {server.label}", push)
    for server in order if "pull" in only else []:

        def pull(server: Server = server) -> None:
            mbps = measure_pull(server, pushed[server.label])
            results.add("pull", server.label, mbps)
            log(f"rep {rep + 1} {'pull':<13} {server.label:<16} {mbps:9.1f} MB/s")

        attempt(results, f"rep {rep + 1} pull {server.label}", pull)
    for server in order if "manifest_get" in only else []:

        def manifest(server: Server = server) -> None:
            res = measure_manifest(server, args)
            results.add("manifest_get", server.label, res.requests_per_sec)
            results.wrk.setdefault(server.label, []).append(res)
            log(
                f"rep {rep + 1} {'manifest_get':<13} {server.label:<16} {res.requests_per_sec:9.0f} req/s "
                f"(p50 {res.latency_p50}, p99 {res.latency_p99})"
            )

        attempt(results, f"rep {rep + 1} manifest_get {server.label}", manifest)
    for server in order if "rss_push" in only else []:

        def rss(server: Server = server) -> None:
            peak, mbps = measure_rss_push(server, data, gib_to_bytes(args.rss_size_gib))
            results.add("rss_push", server.label, peak)
            results.rss_push_mbps.setdefault(server.label, []).append(mbps)
            log(f"rep {rep + 1} {'rss_push':<13} {server.label:<16} {peak:9.1f} MB peak ({mbps:.0f} MB/s)")

        attempt(results, f"rep {rep + 1} rss_push {server.label}", rss)


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
    labels: list[str],
    server_list: list[Server],
) -> list[str]:
    titles = {s.label: s.title for s in server_list}
    notes = [
        f"Client ceiling (this harness's HTTP client against a do-nothing in-process sink, same blob): "
        f"push {ceiling[0]:,.0f} MB/s, pull {ceiling[1]:,.0f} MB/s — the client is not the bottleneck "
        "while both servers stay well below these.",
        "Client, servers and wrk share the same cores; wrk uses "
        f"{args.wrk_threads} threads and {args.wrk_connections} connections for {args.wrk_seconds} s with "
        "`Accept: application/vnd.oci.image.manifest.v1+json` on `/v2/bench/image/manifests/v1`.",
        "Each push sends a new blob (the data file plus a 32-byte nonce), so the registry must receive, "
        "hash and store every byte. `sync` runs before every measurement. Repetitions alternate which "
        "registry goes first.",
        "Distribution runs with `log.level: warn` and its access log disabled (its fastest setting), "
        "filesystem storage, `storage.delete.enabled: true` and the in-memory blob descriptor cache.",
        "RSS is VmRSS from /proc summed over the server process and all its descendants (workers), "
        "sampled every 20 ms; shared pages of forked workers are counted once per process, so the sum "
        "overstates real use. The RSS push is monolithic (POST + PUT).",
    ]
    for label in labels:
        for res in results.wrk.get(label, []):
            notes.append(
                f"wrk {titles[label]}: {res.requests} requests, p50 {res.latency_p50}, "
                f"p99 {res.latency_p99}, non-2xx/3xx {res.non_2xx_3xx}, "
                f"socket errors {res.socket_errors}."
            )
        mbps = results.rss_push_mbps.get(label)
        if mbps:
            notes.append(
                f"{titles[label]}: the {args.rss_size_gib:g} GiB RSS push ran at "
                + ", ".join(f"{v:,.0f}" for v in mbps)
                + " MB/s."
            )
    if args.targets == ["distribution", "distribution"]:
        notes.append("Dry run: Distribution against itself; ratios show the harness's noise, not Shipshape.")
    notes += [f"Error: {e}" for e in results.errors]
    return notes


def run(args: argparse.Namespace, tmp: Path, started: list[Server]) -> report.Report:
    only = set(args.only.split(",")) if args.only else set(MEASUREMENTS)
    if "pull" in only:
        only.add("push_put")  # the pull reads the blob that push_put stored
    size, rss_size = gib_to_bytes(args.size_gib), gib_to_bytes(args.rss_size_gib)
    begun = time.strftime("%Y-%m-%d %H:%M %Z")
    log(f"generating {human_size(max(size, rss_size))} of random data in {tmp}")
    t0 = time.perf_counter()
    data = blobdata.generate(tmp / "blob.bin", max(size, rss_size), [size, rss_size])
    log(f"generated in {time.perf_counter() - t0:.1f} s")
    ceiling = client.client_ceiling(data.unique_blob(size))
    log(f"client ceiling: push {ceiling[0]:,.0f} MB/s, pull {ceiling[1]:,.0f} MB/s")

    started.extend(start_targets(args, tmp))
    results = Results()
    time.sleep(1)
    for server in started:
        results.add("rss_idle", server.label, server.tree_rss() / 1e6)
        if "manifest_get" in only:
            attempt(results, f"manifest setup {server.label}", partial(prepare_manifest, server))
    whole_run = [RssSampler(s, interval=0.1, max_seconds=6 * 3600).start() for s in started]
    try:
        for rep in range(args.reps):
            order = started if rep % 2 == 0 else started[::-1]
            run_rep(rep, order, data, args, results, only)
    finally:
        for sampler in whole_run:
            results.add("rss_run", sampler.server.label, sampler.stop() / 1e6)

    labels = [s.label for s in started]
    ship = shipshape_in(started, args)
    params = {
        "size": human_size(size),
        "rss_size": human_size(rss_size),
        "chunk": human_size(args.chunk_mib * MiB),
        "wrk": f"wrk -t{args.wrk_threads} -c{args.wrk_connections} -d{args.wrk_seconds}s",
    }
    return report.Report(
        command=shlex.join([sys.executable, *sys.argv]),
        columns=[report.Column(s.label, s.title) for s in started],
        params=params,
        reps=args.reps,
        samples=results.samples,
        machine=report.machine_info(servers.distribution_version(args.distribution_bin), ship),
        notes=notes_for(args, results, ceiling, labels, started),
        started=begun,
    )


def shipshape_in(started: list[Server], args: argparse.Namespace) -> str | None:
    if not any(s.kind == "shipshape" for s in started):
        return None
    version = report.shipshape_version(REPO_ROOT)
    return f"{version}, `--workers {args.workers}`" if args.workers else version


def _terminate(signum: int, _frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    check_tools(args)
    signal.signal(signal.SIGTERM, _terminate)
    tmp = Path(tempfile.mkdtemp(prefix="shipshape-bench-", dir=args.tmp_root))
    started: list[Server] = []
    try:
        check_disk(tmp, args)
        rendered = report.render(run(args, tmp, started))
    finally:
        for server in started:
            if server.proc is not None and server.proc.poll() is not None:
                log(
                    f"{server.label} had exited (code {server.proc.returncode}); its log ends:\n"
                    + server.log_tail()
                )
            server.stop()
            log(f"stopped {server.label} (pid {server.pid})")
        shutil.rmtree(tmp, ignore_errors=True)
        log(f"removed {tmp}")
    print(rendered)
    if not args.no_docs:
        report.write_section(args.docs, rendered)
        log(f"wrote {args.docs}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
