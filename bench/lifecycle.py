"""Storage-lifecycle benchmarks (issue 9), on real `shipshape serve` processes over HTTP, in one run:

    /work/main/.venv/bin/python bench/lifecycle.py [--quick] [--rounds 3] [--workers 2] [--out FILE]

1. retention: `GET /api/v1/registries/bench/retention/preview` over 10,000 and 100,000 manifests seeded through
   SQL (lifecycle_seed.py), under the rules of the README's example; seconds (request to last byte) and growth;
2. garbage collection: `POST /api/v1/gc {"grace": "0s"}` over 10,000 and 100,000 blobs (a file each), 1,000 of
   them linked but unreferenced; seconds and growth; checks that exactly those 1,000 rows and files went;
3. manifest GET by tag with wrk (32 connections) on Shipshape with pull tracking on and off (`--workers`,
   default 2 as in bench/run.py), a second Shipshape without tracking as an A/A control, and Distribution: all four
   up at once, after an uncounted warm-up each, taking turns in short wrk runs (`--pairs` turns of
   `--turn-seconds` per server and round, the first of each turn rotating); the ratio is the median over all pairs;
4. small-image pushes and blob pulls (fixed counts, concurrent clients) on one Shipshape holding the large GC set,
   while `POST /api/v1/gc` runs back to back (after 1,000 fresh unreferenced blobs were added), and without GC.

Each measurement takes `--rounds` rounds, A and B in an order flipped every round, each round after waiting (at
most 5 min) for a quiet machine; a round in which other processes took over 10% of all CPU time is run again (at
most `--rounds` times per benchmark). Retention and GC servers (`--auth`, for the management API) start anew on the
seeded data dir for each measurement, which runs once they are idle, after an authenticated warm-up request. The
medians, ranges and per-round ratios go to stdout as Markdown (and to `--out`). Temp dirs under `--tmp-root` are
removed; only processes started here are stopped, by PID.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import signal
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import FrameType

import auth
import client
import lifecycle_seed as seeding
import report
import run
import servers
import sqlalchemy
from lifecycle_seed import Lab, api, flipped, ratios, settle, spread, timed_api
from servers import Server

RULES = """rules:
  - {name: keep-last-releases, action: keep, tags: ["v*"], most-recent: 10}
  - {name: expire-old-builds, action: expire, tag-state: tagged, pushed-before: 30d}
  - {name: expire-untagged, action: expire, tag-state: untagged, pushed-before: 1d}
"""
GARBAGE = 1000
MAX_GC_RUNS = 1000  # back-to-back GC runs during one load, at most
log = run.log


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="1,000/10,000 items, 1 round, 3 s wrk runs: a smoke run")
    p.add_argument("--rounds", type=int, help="rounds per measurement (default 3; 1 with --quick)")
    p.add_argument("--workers", type=int, default=2, help="--workers of the servers under HTTP load (as bench/run.py)")
    p.add_argument("--wrk-seconds", type=int, help="duration of each wrk run (default 10; 3 with --quick)")
    p.add_argument("--pairs", type=int, help="turns per server and round in the tracking bench (default 4)")
    p.add_argument("--turn-seconds", type=int, help="duration of one turn in the tracking bench (default 4)")
    p.add_argument("--push-images", type=int, help="images pushed per load of benchmark 4 (default 400)")
    p.add_argument("--pulls", type=int, help="blob pulls per load of benchmark 4 (default 4000)")
    p.add_argument("--only", default="retention,gc,tracking,during", help="comma-separated subset to run")
    p.add_argument("--shipshape-bin", default=str(Path(sys.executable).parent / "shipshape"))
    p.add_argument("--distribution-bin", default=servers.DISTRIBUTION_BIN)
    p.add_argument("--tmp-root", default="/tmp")
    p.add_argument("--out", type=Path, help="also write the Markdown to this file")
    args = p.parse_args(argv)
    args.rounds = args.rounds or (1 if args.quick else 3)
    args.sizes = (1_000, 10_000) if args.quick else (10_000, 100_000)
    args.gc_sizes = (2_000, 10_000) if args.quick else args.sizes  # room for the 1,000 unreferenced blobs
    args.wrk_seconds = args.wrk_seconds or (3 if args.quick else 10)
    args.pairs = args.pairs or (2 if args.quick else 4)
    args.turn_seconds = args.turn_seconds or (2 if args.quick else 4)
    args.push_images = args.push_images or (80 if args.quick else 400)
    args.pulls = args.pulls or (800 if args.quick else 4000)
    args.wrk_threads, args.wrk_connections = 2, 32  # what run.measure_manifest reads
    args.only = set(args.only.split(","))
    return args


def growth_table(what: str, sizes: tuple[int, int], seconds: dict[int, list[float]], notes: list[str]) -> list[str]:
    small, large = sizes
    growth = ratios(seconds[large], seconds[small])
    return [
        f"| {what} | seconds, median [min, max] | per item (µs) |",
        "|---|---:|---:|",
        *(f"| {n:,} | {spread(seconds[n], '.3f')} | {statistics.median(seconds[n]) / n * 1e6:.0f} |" for n in sizes),
        "",
        f"Growth {small:,} → {large:,} ({large // small}x the items): **{statistics.median(growth):.2f}x** the time"
        f" (per round: {', '.join(f'{g:.2f}' for g in growth)}); linear would be {large // small}x, target ≤ "
        f"{large // small}x: **{'met' if statistics.median(growth) <= large / small else 'NOT met'}**.",
        *notes,
    ]


def bench_retention(lab: Lab) -> list[str]:
    sizes, dirs = lab.args.sizes, {}
    title = f"### Retention preview, {sizes[0]:,} and {sizes[1]:,} manifests"
    for size in sizes:
        dirs[size] = lab.tmp / f"retention-{size}"
        seeded = seeding.seed(dirs[size], size, small=False, files=False)
        log(f"retention: seeded {seeded}")
        with lab.running("retention", dirs[size]) as server, lab.admin(server) as reg:
            api(reg, "POST", "/registries", {"name": seeding.REGISTRY, "environment": "development"}, expect=201)
            api(reg, "PUT", f"/registries/{seeding.REGISTRY}/retention", {"document": RULES})

    def one(rnd: int) -> dict[int, tuple[float, tuple[int, int, int]]]:
        measured = {}
        for size in flipped(list(sizes), rnd):
            with lab.running("retention", dirs[size]) as server:
                took, preview = timed_api(lab, server, "GET", f"/registries/{seeding.REGISTRY}/retention/preview")
            candidates, kept = preview["candidates"], preview["kept"]
            assert isinstance(candidates, list) and isinstance(kept, list) and isinstance(preview["bytes"], int)
            if not 0 < len(candidates) < size:
                raise RuntimeError(f"implausible preview of {size:,} manifests: {len(candidates):,} candidates")
            measured[size] = (took, (len(candidates), len(kept), preview["bytes"]))
            log(f"retention round {rnd + 1}, {size:,} manifests: {took:.3f} s, {len(candidates):,} candidates")
        return measured

    results = lab.rounds(one)
    seconds = {n: [r[n][0] for r in results] for n in sizes}
    found = {n: sorted({r[n][1] for r in results}) for n in sizes}
    shown = "; ".join(
        f"{n:,}: " + ", ".join(f"{c:,} / {k:,} / {b / 1e9:,.0f} GB" for c, k, b in found[n]) for n in sizes
    )
    notes = ["", f"What the previews found (candidates / kept by a protection / bytes freed): {shown}."]
    return [title, "", *growth_table("Manifests in the registry", sizes, seconds, notes)]


def bench_gc(lab: Lab) -> tuple[list[str], Path]:
    """The table, and the data dir of the large set (benchmark 4 reuses it)."""
    sizes, dirs, seeded = lab.args.gc_sizes, {}, {}
    title = f"### Garbage collection, {sizes[0]:,} and {sizes[1]:,} blobs, {GARBAGE:,} unreferenced"
    for size in sizes:
        dirs[size] = lab.tmp / f"gc-{size}"
        seeded[size] = seeding.seed(dirs[size], seeding.images_for_blobs(size, GARBAGE), small=True, files=True)
        log(f"gc: seeded {seeded[size]} (+ {GARBAGE:,} unreferenced per run)")

    def one(rnd: int) -> dict[int, float]:
        measured = {}
        for size in flipped(list(sizes), rnd):
            garbage = seeding.add_garbage(dirs[size], GARBAGE, f"gc-{time.monotonic_ns()}")
            total = seeding.count_blob_files(dirs[size])
            with lab.running("gc", dirs[size]) as server:
                took, done = timed_api(lab, server, "POST", "/gc", {"grace": "0s"})
            left = seeding.count_blob_files(dirs[size])
            rows = seeding.query(dirs[size], "SELECT count(*) FROM blobs")
            if done["blobs_deleted"] != GARBAGE or (left, rows) != (seeded[size].blobs,) * 2:
                raise RuntimeError(f"GC over {total:,} blobs: {done}, {left:,} files and {rows:,} rows left")
            if seeding.blobs_present(dirs[size], garbage) != (0, 0):
                raise RuntimeError("GC left some of the unreferenced blobs")
            measured[size] = took
            log(f"gc round {rnd + 1}, {total:,} blobs: {took:.3f} s, deleted {done['blobs_deleted']}")
        return measured

    results = lab.rounds(one)
    seconds = {n: [r[n] for r in results] for n in sizes}
    kept = " and ".join(f"{seeded[n].blobs:,}" for n in sizes)
    notes = [
        "",
        f"Every run deleted exactly the {GARBAGE:,} unreferenced blobs (rows, files); the {kept} others stayed.",
    ]
    return [title, "", *growth_table("Blobs in the store", sizes, seconds, notes)], dirs[sizes[1]]


def bench_tracking(lab: Lab) -> list[str]:
    args = lab.args
    # All four servers run at once and take turns in short wrk runs, pair after pair, so that a slow minute of
    # the machine falls on all of them; the Shipshape servers start anew every round (on the same data dirs),
    # since one process can be a few per cent faster or slower than an identical one for as long as it runs:
    # the A/A control, a second server without tracking, shows how much.
    data = {label: lab.tmp / f"{label}-data" for label in ("tracking-on", "tracking-off", "control")}

    def start(label: str) -> Server:
        extra = () if label == "tracking-on" else ("--no-pull-tracking",)
        return lab.shipshape(label, data[label], *extra, secured=False, workers=args.workers)

    dist = servers.start_distribution("distribution", lab.tmp / "distribution", args.distribution_bin)
    lab.started.append(dist)
    for server in [*map(start, data), dist]:
        run.prepare_manifest(server)
        if server is not dist:
            server.stop()
    turn = argparse.Namespace(**{**vars(args), "wrk_seconds": args.turn_seconds})
    warm_up = argparse.Namespace(**{**vars(args), "wrk_seconds": max(2, args.turn_seconds // 2)})

    def one(rnd: int) -> dict[str, list[tuple[float, float]]]:
        """Each server's req/s and server CPU µs per request, one pair per entry."""
        targets = {**{label: start(label) for label in data}, "distribution": dist}
        for label in data:
            settle(targets[label])  # a server still starting must not take CPU from the one measured
        measured: dict[str, list[tuple[float, float]]] = {label: [] for label in targets}
        try:
            for server in targets.values():
                run.measure_manifest(server, warm_up)  # not counted: whatever ran before must not matter
            order = list(targets)
            for pair in range(args.pairs):
                shift = (rnd * args.pairs + pair) % len(order)
                with lab.measuring():
                    for label in order[shift:] + order[:shift]:  # each first in its turn
                        ticks = targets[label].tree_cpu_ticks()
                        result = run.measure_manifest(targets[label], turn)
                        cpu = (targets[label].tree_cpu_ticks() - ticks) / servers.CLOCK_TICKS / result.requests
                        measured[label].append((result.requests_per_sec, cpu * 1e6))
                log(
                    f"tracking round {rnd + 1}, pair {pair + 1}: "
                    + ", ".join(f"{label} {measured[label][-1][0]:,.0f}" for label in order)
                    + " req/s"
                )
        finally:
            for label in data:
                targets[label].stop()  # pulls counted so far are written at shutdown
        return measured

    results = lab.rounds(one)
    labels = [*data, "distribution"]
    rates = {label: [rate for r in results for rate, _ in r[label]] for label in labels}
    cpu = {label: [c for r in results for _, c in r[label]] for label in labels}
    sql = "SELECT coalesce(sum(pull_count), 0) FROM manifests"
    counted = [seeding.query(data[label], sql) for label in data]
    if counted[0] == 0 or counted[1:] != [0, 0]:
        raise RuntimeError(f"pull counts recorded (on, off, control): {counted}")
    title = {"tracking-on": "Shipshape, pull tracking on", "tracking-off": "Shipshape, --no-pull-tracking"}
    title["control"] = "Shipshape, --no-pull-tracking (a second one: A/A control)"
    title["distribution"] = f"Distribution {servers.distribution_version(args.distribution_bin)}"
    on_off, a_a = ratios(rates["tracking-on"], rates["tracking-off"]), ratios(rates["tracking-off"], rates["control"])
    both = [(x + y) / 2 for x, y in zip(rates["tracking-off"], rates["control"], strict=True)]
    per_round = [
        statistics.median(ratios(*(rates[k][i : i + args.pairs] for k in ("tracking-on", "tracking-off"))))
        for i in range(0, len(on_off), args.pairs)
    ]
    return [
        f"### Manifest GET by tag, pull tracking on and off (wrk, 32 connections, {args.pairs} turns of "
        f"{args.turn_seconds} s per server and round)",
        "",
        "| Server | req/s, median [min, max] | server CPU per request (µs), median [min, max] |",
        "|---|---:|---:|",
        *(f"| {title[k]} | {spread(v, ',.0f')} | {spread(cpu[k], '.1f')} |" for k, v in rates.items()),
        "",
        f"Tracking on / off: **{statistics.median(on_off):.3f}**, the median of {len(on_off)} pairs (range "
        f"{min(on_off):.3f}-{max(on_off):.3f}; per round: {', '.join(f'{r:.3f}' for r in per_round)}); target "
        f"≥ 0.95: **{'met' if statistics.median(on_off) >= 0.95 else 'NOT met'}**. Control, two identical servers "
        f"without tracking: off / control **{statistics.median(a_a):.3f}** (range {min(a_a):.3f}-{max(a_a):.3f}), "
        f"the noise floor of a ratio between two servers; tracking on / the mean of both: "
        f"{statistics.median(ratios(rates['tracking-on'], both)):.3f}; server CPU per request, on / off: "
        f"{statistics.median(ratios(cpu['tracking-on'], cpu['tracking-off'])):.3f}. Shipshape / Distribution: "
        f"{statistics.median(ratios(rates['tracking-on'], rates['distribution'])):.2f}x (on), "
        f"{statistics.median(ratios(rates['tracking-off'], rates['distribution'])):.2f}x (off). The server with "
        f"tracking on recorded {counted[0]:,} pulls in its database (the others none).",
    ]


def load(
    server: Server, credential: str, blob: str, repo: str, images: int, pulls: int, gc: Callable[[], None] | None
) -> tuple[float, float]:
    """4 clients push `images` small images into `repo` while 4 others pull `blob` `pulls` times, all at once (with
    `gc` running in a thread meanwhile): (images/s, pulls/s), each over its clients' wall time."""
    stop, gc_started = threading.Event(), threading.Event()

    def pushes(part: int) -> float:
        with client.Registry(server.host, server.port, authorization=credential) as reg:
            for n in range(part, images, 4):
                client.push_small_image(reg, repo, f"t{n}")
        return time.perf_counter()

    def pull(part: int) -> float:
        with client.Registry(server.host, server.port, authorization=credential) as reg:
            for _ in range(part, pulls, 4):
                if len(reg.request("GET", f"/v2/{auth.REGISTRY}/pull/blobs/{blob}").body) != 1 << 20:
                    raise client.RegistryError("short blob")
        return time.perf_counter()

    def collector(gc: Callable[[], None]) -> None:
        for _ in range(MAX_GC_RUNS):
            gc_started.set()
            gc()
            if stop.is_set():
                return

    thread = threading.Thread(target=collector, args=(gc,), daemon=True)
    if gc is not None:
        thread.start()
        gc_started.wait(30)
        time.sleep(0.3)  # the first request is in and the run under way
    try:
        with ThreadPoolExecutor(8) as pool:
            started = time.perf_counter()
            push_end = [pool.submit(pushes, n) for n in range(4)]
            pull_end = [pool.submit(pull, n) for n in range(4)]
            push_rate = images / (max(f.result() for f in push_end) - started)
            pull_rate = pulls / (max(f.result() for f in pull_end) - started)
    finally:
        stop.set()
        if gc is not None:
            thread.join(600)
    return push_rate, pull_rate


def bench_during_gc(lab: Lab, data: Path) -> list[str]:
    args = lab.args
    blobs = seeding.count_blob_files(data)
    server = lab.shipshape("during-gc", data, workers=args.workers)
    settle(server)
    access = auth.AuthSet(server, server, lab.password)
    access.prepare(get=False)
    credential = access.credential
    assert credential is not None
    with client.Registry(server.host, server.port, authorization=credential) as reg:
        blob = client.push_bytes(reg, f"{auth.REGISTRY}/pull", os.urandom(1 << 20))
    runs: list[tuple[float, int]] = []

    def gc() -> None:
        # With the server's grace (1h), so that the blobs of pushes under way stay.
        took, done = timed_api(lab, server, "POST", "/gc", {}, quiet=False)
        deleted = done["blobs_deleted"]
        assert isinstance(deleted, int)
        runs.append((took, deleted))

    def one(rnd: int) -> dict[str, tuple[tuple[float, float], list[tuple[float, int]]]]:
        measured = {}
        for cond in flipped(["gc", "idle"], rnd):
            if cond == "gc":
                seeding.add_garbage(data, GARBAGE, f"during-{time.monotonic_ns()}")
            settle(server)
            runs.clear()
            repo = f"{auth.REGISTRY}/load-{time.monotonic_ns()}"
            with lab.measuring():
                rate = load(server, credential, blob, repo, args.push_images, args.pulls, gc if cond == "gc" else None)
            if cond == "gc" and sum(d for _, d in runs) != GARBAGE:
                raise RuntimeError(f"GC runs during the load deleted {[d for _, d in runs]}, want {GARBAGE} in all")
            measured[cond] = (rate, list(runs))
            log(f"during-gc round {rnd + 1}, {cond}: {rate[0]:.1f} images/s, {rate[1]:.0f} pulls/s, gc {runs}")
        return measured

    results = lab.rounds(one)
    rates = {cond: [r[cond][0] for r in results] for cond in ("gc", "idle")}
    gc_runs = [r["gc"][1] for r in results]
    server.stop()
    push_ratio = ratios([r[0] for r in rates["gc"]], [r[0] for r in rates["idle"]])
    pull_ratio = ratios([r[1] for r in rates["gc"]], [r[1] for r in rates["idle"]])
    first = [r[0][0] for r in gc_runs]
    repeat = [t for r in gc_runs for t, _ in r[1:]]
    verdict = "met" if min(statistics.median(push_ratio), statistics.median(pull_ratio)) >= 0.8 else "NOT met"
    return [
        "### Pushes and pulls during garbage collection",
        "",
        "| Load | images pushed/s, median [min, max] | blob pulls/s, median [min, max] |",
        "|---|---:|---:|",
        *(
            f"| {'during GC' if k == 'gc' else 'no GC'} | {spread([r[0] for r in v], '.1f')} | "
            f"{spread([r[1] for r in v], ',.0f')} |"
            for k, v in rates.items()
        ),
        "",
        f"During GC / no GC: pushes **{statistics.median(push_ratio):.2f}** (per round: "
        f"{', '.join(f'{r:.2f}' for r in push_ratio)}), pulls **{statistics.median(pull_ratio):.2f}** (per round: "
        f"{', '.join(f'{r:.2f}' for r in pull_ratio)}); target ≥ 0.8: **{verdict}**. Each load: {args.push_images} "
        f"small images (2 blobs + manifest each) by 4 clients and {args.pulls:,} pulls of a 1 MiB blob by 4 others, "
        f"concurrently, Basic credentials of a `ci` credential, on a server with --workers {args.workers} holding "
        f"{blobs:,} blobs (files) before the rounds. GC ran back to back during each load with the server's grace "
        f"(1 h): {', '.join(str(len(r)) for r in gc_runs)} runs per load; the first deleted the {GARBAGE:,} "
        f"unreferenced blobs added just before, in {spread(first)} s; the later ones (nothing left to delete, still "
        f"a full scan) took {spread(repeat) if repeat else '-'} s.",
    ]


def machine() -> list[str]:
    info = report.machine_info(
        servers.distribution_version(), report.shipshape_version(Path(__file__).resolve().parent.parent)
    )
    info["SQLite"] = f"{sqlite3.sqlite_version} (SQLAlchemy {sqlalchemy.__version__}, {platform.machine()})"
    return [f"- {k}: {v}" for k, v in info.items()]


def _terminate(signum: int, _frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _terminate)
    tmp = Path(tempfile.mkdtemp(prefix="shipshape-lifecycle-", dir=args.tmp_root))
    lab = Lab(args, tmp)
    out = [
        f"Command: `{' '.join(['.venv/bin/python bench/lifecycle.py', *argv])}` ({args.rounds} rounds "
        "per measurement, the order of A and B flipped every round).",
        "",
        *machine(),
    ]
    try:
        gc_data: Path | None = None
        for name in ("retention", "gc", "tracking", "during"):
            if name not in args.only and not (name == "gc" and "during" in args.only):
                continue
            log(f"--- {name}")
            if name == "gc":
                lines, gc_data = bench_gc(lab)
            elif name == "during":
                assert gc_data is not None
                lines = bench_during_gc(lab, gc_data)
            else:
                lines = bench_retention(lab) if name == "retention" else bench_tracking(lab)
            out += ["", *lines, "", lab.interference_note()]
    finally:
        for server in lab.started:
            server.stop()  # by PID; a no-op for one already stopped
        shutil.rmtree(tmp, ignore_errors=True)
        log(f"removed {tmp}")
    text = "\n".join(out) + "\n"
    print(text)
    if args.out is not None:
        args.out.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
