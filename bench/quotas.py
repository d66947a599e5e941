"""Usage and quota benchmarks (issue 10), on real `shipshape serve --auth` processes over HTTP, in one run:

    /work/main/.venv/bin/python bench/quotas.py [--quick] [--rounds 3] [--out FILE]

1. usage: over an account whose registry holds 10,000 and 100,000 blobs (seeded through SQL as for the lifecycle
   benchmarks, lifecycle_seed.py: images of one config, one own layer and one of 20 shared base layers, spread over
   100 repositories), the seconds of
   - the report `shipshape usage --account` prints, `GET /api/v1/usage?account=ACCOUNT` (totals, per registry and
     repository, the largest images and layers, growth, images not pulled for 30 days, the daily history), request
     to last byte, on a server started anew on the seeded data and idle;
   - the full measure a quota check falls back to near the quota (`SqlUsageStore.usage`: each distinct blob and
     manifest of the account once), in this process on the same SQLite file;
   and how they grow from 10,000 to 100,000;
2. the quota check on manifest PUT: distinct manifests under new tags (putload.py) with a `ci` credential, on two
   Shipshapes started alike (`--auth`, fresh SQLite), one of them with `--no-quotas`; one client (so that a PUT's
   latency is its own cost) and 32 clients (the rate under load); the added latency is the median PUT latency with
   quotas minus without, per round.

Each measurement takes `--rounds` rounds, A and B in an order flipped every round, each round after waiting (at most
5 min) for a quiet machine; a round in which other processes took over 10% of all CPU time is run again (at most
`--rounds` times per benchmark). The Markdown goes to stdout (and to `--out`). Temp dirs under `--tmp-root` are
removed; only processes started here are stopped, by PID.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path
from types import FrameType

import auth
import client
import lifecycle
import lifecycle_seed as seeding
import putload
import run
from lifecycle_seed import Lab, api, flipped, ratios, settle, spread, timed_api
from servers import Server

from shipshape.metadata import open_metadata_store
from shipshape.metadata.usage_store import SqlUsageStore

REGISTRY = "bench-dev"
PUT_REPOSITORY = f"{REGISTRY}/put"
WARM_UP = 50  # untimed PUTs per server first (the first one measures the account's usage)
log = run.log


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="1,000/10,000 blobs, 1 round, fewer PUTs: a smoke run")
    p.add_argument("--rounds", type=int, help="rounds per measurement (default 3; 1 with --quick)")
    p.add_argument("--puts", type=int, help="PUTs per run of one client (default 1000; 32 clients: 3x that)")
    p.add_argument("--only", default="usage,put", help="comma-separated subset to run")
    p.add_argument("--shipshape-bin", default=str(Path(sys.executable).parent / "shipshape"))
    p.add_argument("--tmp-root", default="/tmp")
    p.add_argument("--out", type=Path, help="also write the Markdown to this file")
    args = p.parse_args(argv)
    args.rounds = args.rounds or (1 if args.quick else 3)
    args.sizes = (1_000, 10_000) if args.quick else (10_000, 100_000)
    args.puts = args.puts or (200 if args.quick else 1000)
    args.only = set(args.only.split(","))
    return args


def bench_usage(lab: Lab) -> list[str]:
    sizes, dirs, accounts = lab.args.sizes, {}, {}
    for size in sizes:
        dirs[size] = lab.tmp / f"usage-{size}"
        seeded = seeding.seed(dirs[size], seeding.images_for_blobs(size, 0), small=False, files=False)
        log(f"usage: seeded {seeded}")
        with lab.running("usage", dirs[size]) as server, lab.admin(server) as reg:
            made = api(reg, "POST", "/registries", {"name": seeding.REGISTRY, "environment": "development"}, 201)
            assert isinstance(made, dict)
            accounts[size] = str(made["account"])

    def one(rnd: int) -> dict[int, tuple[float, float, int]]:
        measured = {}
        for size in flipped(list(sizes), rnd):
            with lab.running("usage", dirs[size]) as server:
                took, report = timed_api(lab, server, "GET", f"/usage?account={accounts[size]}")
            blobs = report["blobs"]
            measure = asyncio.run(_measure(dirs[size]))
            measured[size] = (took, measure[0], measure[1])
            log(f"usage round {rnd + 1}, {size:,} blobs: report {took:.3f} s, measure {measure[0]:.3f} s ({blobs})")
        return measured

    results = lab.rounds(one)
    report_s = {n: [r[n][0] for r in results] for n in sizes}
    measure_s = {n: [r[n][1] for r in results] for n in sizes}
    counted = {n: sorted({r[n][2] for r in results}) for n in sizes}
    notes = ["", "Distinct blobs the measure counted: " + "; ".join(f"{n:,}: {counted[n]}" for n in sizes) + "."]
    return [
        f"### Usage of an account, {sizes[0]:,} and {sizes[1]:,} blobs",
        "",
        "The report (`GET /api/v1/usage?account=…`, what `shipshape usage --account` prints):",
        "",
        *lifecycle.growth_table("Blobs in the account", sizes, report_s, []),
        "",
        "The full measure a quota check falls back to (`SqlUsageStore.usage`, in process on the same file):",
        "",
        *lifecycle.growth_table("Blobs in the account", sizes, measure_s, notes),
    ]


async def _measure(data_dir: Path) -> tuple[float, int]:
    """Seconds of one full usage measure of the seeded registry, after a warm-up one; the blobs it counted."""
    store = open_metadata_store(seeding.database(data_dir))
    try:
        usage = SqlUsageStore(store)
        await usage.usage([seeding.REGISTRY])
        started = time.perf_counter()
        found = await usage.usage([seeding.REGISTRY])
        return time.perf_counter() - started, found.blobs
    finally:
        await store.close()


def _prepared(lab: Lab, label: str, *extra: str) -> tuple[Server, str, putload.Image]:
    """A fresh `--auth` Shipshape with a development registry, a `ci` credential and the PUTs' blobs uploaded."""
    server = lab.shipshape(label, None, *extra)
    settle(server)
    with lab.admin(server) as reg:
        api(reg, "POST", "/registries", {"name": REGISTRY, "environment": "development"}, 201)
        issued = api(
            reg, "POST", "/credentials",
            {"name": "bench-ci", "registries": [REGISTRY], "kind": "ci", "actions": ["pull", "push"]}, 201,
        )  # fmt: skip
    assert isinstance(issued, dict)
    authorization = auth.basic(str(issued["username"]), str(issued["secret"]))
    with client.Registry(server.host, server.port, authorization=authorization) as reg:
        image = putload.upload_image(reg, PUT_REPOSITORY)
    putload.put_manifests(server.host, server.port, PUT_REPOSITORY, image, 0, WARM_UP, 1, authorization)
    return server, authorization, image


def bench_put(lab: Lab) -> list[str]:
    targets = {"on": _prepared(lab, "quotas-on"), "off": _prepared(lab, "quotas-off", "--no-quotas")}
    _check_quota_enforced(lab, targets)
    following = dict.fromkeys(targets, WARM_UP)

    def one(rnd: int) -> dict[tuple[str, int], putload.PutResult]:
        measured = {}
        for clients, count in ((1, lab.args.puts), (32, 3 * lab.args.puts)):
            for name in flipped(list(targets), rnd):
                server, authorization, image = targets[name]
                with lab.measuring():
                    result = putload.put_manifests(
                        server.host, server.port, PUT_REPOSITORY, image, following[name], count, clients, authorization
                    )
                following[name] += count
                measured[(name, clients)] = result
                log(
                    f"put round {rnd + 1}, quotas {name}, {clients} client(s): {result.rate:,.0f}/s, "
                    f"p50 {result.latency_ms(0.5):.2f} ms"
                )
        return measured

    results = lab.rounds(one)
    lines = [
        "### Manifest PUT with the quota check (`--quotas`, the default) and without (`--no-quotas`)",
        "",
        "| clients | quotas | PUT/s, median [min, max] | latency p50 ms, median [min, max] | p99 ms, median |",
        "|---:|---|---:|---:|---:|",
    ]
    for clients in (1, 32):
        for name in targets:
            runs = [r[(name, clients)] for r in results]
            lines.append(
                f"| {clients} | {name} | {spread([r.rate for r in runs], ',.0f')} | "
                f"{spread([r.latency_ms(0.5) for r in runs], '.2f')} | "
                f"{statistics.median(r.latency_ms(0.99) for r in runs):.1f} |"
            )
    added = [r[("on", 1)].latency_ms(0.5) - r[("off", 1)].latency_ms(0.5) for r in results]
    mean_added = [
        1000 * (statistics.fmean(r[("on", 1)].latencies) - statistics.fmean(r[("off", 1)].latencies)) for r in results
    ]
    rate = ratios([r[("on", 32)].rate for r in results], [r[("off", 32)].rate for r in results])
    verdict = "met" if statistics.median(added) < 1.0 else "NOT met"
    lines += [
        "",
        f"Added by the quota check, one client: **{statistics.median(added):+.2f} ms** median latency per PUT "
        f"(per round: {', '.join(f'{a:+.2f}' for a in added)}; mean latency "
        f"{', '.join(f'{a:+.2f}' for a in mean_added)} ms); target under 1 ms: **{verdict}**. "
        f"Rate with / without at 32 clients: {statistics.median(rate):.2f} (per round: "
        f"{', '.join(f'{x:.2f}' for x in rate)}).",
    ]
    return lines


def _check_quota_enforced(lab: Lab, targets: dict[str, tuple[Server, str, putload.Image]]) -> None:
    """The server with quotas refuses a blob past a tiny quota; the one without stores it (then both get 10 GiB)."""
    for name, (server, authorization, _image) in targets.items():
        with lab.admin(server) as reg:
            registry = api(reg, "GET", f"/registries/{REGISTRY}")
            assert isinstance(registry, dict)
            account = str(registry["account"])
            api(reg, "PUT", f"/accounts/{account}/quota", {"quota": "1KiB"})
        with client.Registry(server.host, server.port, authorization=authorization) as reg:
            try:
                client.push_bytes(reg, PUT_REPOSITORY, b"q" * 4096)
                stored = True
            except client.RegistryError:
                stored = False
        if stored != (name == "off"):
            raise RuntimeError(f"quotas {name}: a 4 KiB blob past a 1 KiB quota was {'' if stored else 'not '}stored")
        with lab.admin(server) as reg:
            api(reg, "PUT", f"/accounts/{account}/quota", {"quota": "10GiB"})


def _terminate(signum: int, _frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _terminate)
    tmp = Path(tempfile.mkdtemp(prefix="shipshape-quotas-", dir=args.tmp_root))
    lab = Lab(args, tmp)
    out = [
        f"Command: `{' '.join(['.venv/bin/python bench/quotas.py', *argv])}` ({args.rounds} rounds per "
        "measurement, the order of A and B flipped every round).",
        "",
        *lifecycle.machine(),
    ]
    try:
        for name in ("usage", "put"):
            if name in args.only:
                log(f"--- {name}")
                lines = bench_usage(lab) if name == "usage" else bench_put(lab)
                out += ["", *lines, "", lab.interference_note()]
    finally:
        for server in lab.started:
            server.stop()
        shutil.rmtree(tmp, ignore_errors=True)
        log(f"removed {tmp}")
    text = "\n".join(out) + "\n"
    print(text)
    if args.out is not None:
        args.out.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
