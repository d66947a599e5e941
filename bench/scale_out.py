"""Scale-out benchmark (issue 11): Shipshape processes on PostgreSQL + SeaweedFS (S3), side by side with CNCF
Distribution on the same SeaweedFS (its S3 driver), in one run:

    /work/main/.venv/bin/python bench/scale_out.py [--quick] [--rounds 3] [--out FILE]

1. manifest GET by tag with 1, 2 and 4 Shipshape processes (`--workers 1` each, one PostgreSQL database, one
   bucket, no load balancer in between: one wrk per process at once, 32 connections in all, rates summed), and
   Distribution (one process);
2. a blob push (monolithic PUT, `--size-gib`, default 2 GiB) and its pull, to one Shipshape process and to
   Distribution, with the server's memory (PSS summed over its process tree) sampled every 100 ms: the peak.

PostgreSQL (scripts/test-postgres) and SeaweedFS (scripts/test-seaweedfs) are started here on loopback ports and
stopped at the end, as are the servers; temp dirs under `--tmp-root` are removed. Markdown goes to stdout and
`--out`.
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import blobdata
import client
import loadgen
import run
from servers import MemorySampler, Server, free_port, start_shipshape

from shipshape.storage.s3 import S3BlobStore, S3Location

ROOT = Path(__file__).resolve().parent.parent
PROCESS_COUNTS = (1, 2, 4)
CONNECTIONS = 32
BUCKETS = ("shipshape", "distribution")
log = run.log


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="256 MiB blob, 1 round, 5 s wrk runs: a smoke run")
    p.add_argument("--rounds", type=int, help="rounds (default 3; 1 with --quick)")
    p.add_argument("--size-gib", type=float, help="blob size for push/pull (default 2; 0.25 with --quick)")
    p.add_argument("--wrk-seconds", type=int, help="seconds per wrk run (default 10; 5 with --quick)")
    p.add_argument("--shipshape-bin", default=str(Path(sys.executable).parent / "shipshape"))
    p.add_argument("--tmp-root", default="/tmp")
    p.add_argument("--out", type=Path)
    args = p.parse_args(argv)
    args.rounds = args.rounds or (1 if args.quick else 3)
    args.size_gib = args.size_gib or (0.25 if args.quick else 2.0)
    args.wrk_seconds = args.wrk_seconds or (5 if args.quick else 10)
    return args


def start_services(tmp: Path) -> tuple[str, str]:
    """PostgreSQL and SeaweedFS for this run: (database URL, S3 endpoint)."""
    pg_port, s3_port = free_port(), 20000 + os.getpid() % 20000
    database = subprocess.run(
        [str(ROOT / "scripts/test-postgres"), "start", str(tmp / "pg"), str(pg_port)],
        check=True, capture_output=True, text=True,
    ).stdout.strip()  # fmt: skip
    endpoint = subprocess.run(
        [str(ROOT / "scripts/test-seaweedfs"), "start", str(tmp / "s3"), str(s3_port)],
        check=True, capture_output=True, text=True,
    ).stdout.strip()  # fmt: skip
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "shipshape-bench")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "shipshape-bench")

    async def buckets() -> None:
        store = S3BlobStore(S3Location("shipshape", "", endpoint, "us-east-1"))
        try:
            s3 = await store.client()
            for bucket in BUCKETS:
                await s3.create_bucket(Bucket=bucket)
        finally:
            await store.close()

    asyncio.run(buckets())
    return database, endpoint


def stop_services(tmp: Path) -> None:
    for script, where in (("test-seaweedfs", "s3"), ("test-postgres", "pg")):
        if (tmp / where).exists():
            subprocess.run([str(ROOT / "scripts" / script), "stop", str(tmp / where)], check=False, capture_output=True)


def start_distribution_s3(workdir: Path, endpoint: str) -> Server:
    port = free_port()
    workdir.mkdir(parents=True)
    config = workdir / "config.yml"
    config.write_text(
        "version: 0.1\n"
        "log:\n  level: warn\n  accesslog:\n    disabled: true\n"
        "storage:\n"
        "  s3:\n"
        f"    accesskey: {os.environ['AWS_ACCESS_KEY_ID']}\n    secretkey: {os.environ['AWS_SECRET_ACCESS_KEY']}\n"
        f"    region: us-east-1\n    regionendpoint: {endpoint}\n    bucket: distribution\n"
        "    secure: false\n    v4auth: true\n    chunksize: 10485760\n    rootdirectory: /registry\n"
        "  delete:\n    enabled: true\n"
        "  cache:\n    blobdescriptor: inmemory\n"
        "  redirect:\n    disable: true\n"
        f"http:\n  addr: 127.0.0.1:{port}\n"
    )
    server = Server("distribution", "distribution", "Distribution", workdir, port, "/v2/", short="Distribution")
    # Its AWS SDK cannot combine a custom CA bundle with its own transport: the store is plain HTTP on loopback.
    env = {k: v for k, v in os.environ.items() if k != "AWS_CA_BUNDLE"}
    server.launch(["docker-registry", "serve", str(config)], env=env)
    return server


def start_shipshapes(args: argparse.Namespace, tmp: Path, database: str, endpoint: str) -> list[Server]:
    extra = ["--database-url", database, "--blob-store", "s3://shipshape/registry", "--s3-endpoint-url", endpoint,
             "--s3-region", "us-east-1"]  # fmt: skip
    servers = []
    for number in range(max(PROCESS_COUNTS)):
        # start_shipshape passes the environment on without SHIPSHAPE_* variables: the AWS_* keys reach aiobotocore.
        servers.append(start_shipshape(f"shipshape-{number}", tmp / f"ss{number}", args.shipshape_bin, 1, "warning",
                                       extra))  # fmt: skip
    return servers


def manifest_rate(servers: list[Server], seconds: int) -> float:
    """Summed req/s of one wrk per server, all at once, CONNECTIONS connections in all."""
    path = f"/v2/{run.IMAGE_REPO}/manifests/{run.IMAGE_TAG}"
    each = max(CONNECTIONS // len(servers), 1)

    def one(server: Server) -> float:
        result = loadgen.run_wrk(f"http://{server.host}:{server.port}{path}", {"Accept": client.OCI_MANIFEST}, 1,
                                 each, seconds)  # fmt: skip
        if not result.clean:
            raise RuntimeError(f"wrk on {server.label}: {result.non_2xx_3xx} non-2xx, {result.socket_errors} errors")
        return result.requests_per_sec

    with concurrent.futures.ThreadPoolExecutor(len(servers)) as pool:
        return sum(pool.map(one, servers))


def push_and_pull(server: Server, data: blobdata.DataFile, size: int) -> tuple[float, float, float, float]:
    """(push MB/s, pull MB/s, peak PSS MB during the push, PSS MB just before it)."""
    blob = data.unique_blob(size)
    before = server.tree_memory().pss_sum / 1e6
    with client.Registry(server.host, server.port) as reg, MemorySampler(server, interval=0.1) as sampler:
        started = time.perf_counter()
        client.push_monolithic(reg, run.BLOB_REPO, blob)
        push = blob.size / (time.perf_counter() - started) / 1e6
    with client.Registry(server.host, server.port) as reg:
        started = time.perf_counter()
        client.pull_blob(reg, run.BLOB_REPO, blob)
        pull = blob.size / (time.perf_counter() - started) / 1e6
    return push, pull, sampler.peak.pss_sum / 1e6, before


def med(values: list[float]) -> str:
    return f"{statistics.median(values):,.0f} [{min(values):,.0f}, {max(values):,.0f}]"


def measure(args: argparse.Namespace, tmp: Path, started: list[Server]) -> str:
    database, endpoint = start_services(tmp)
    shipshapes = start_shipshapes(args, tmp, database, endpoint)
    started.extend(shipshapes)
    distribution = start_distribution_s3(tmp / "dist", endpoint)
    started.append(distribution)
    for server in (shipshapes[0], distribution):
        run.prepare_manifest(server)
    size = run.gib_to_bytes(args.size_gib)
    log(f"generating {run.human_size(size)} of random data")
    data = blobdata.generate(tmp / "blob.bin", size, [size])

    rates: dict[str, list[float]] = {f"shipshape-{n}": [] for n in PROCESS_COUNTS} | {"distribution": []}
    transfers: dict[str, list[tuple[float, float, float, float]]] = {"shipshape": [], "distribution": []}
    for number in range(args.rounds):
        for count in PROCESS_COUNTS:
            rates[f"shipshape-{count}"].append(manifest_rate(shipshapes[:count], args.wrk_seconds))
        rates["distribution"].append(manifest_rate([distribution], args.wrk_seconds))
        transfers["shipshape"].append(push_and_pull(shipshapes[0], data, size))
        transfers["distribution"].append(push_and_pull(distribution, data, size))
        log(f"round {number + 1}: " + ", ".join(f"{k} {v[-1]:,.0f}/s" for k, v in rates.items())
            + f"; transfers (push, pull MB/s, PSS MB peak, before) {transfers['shipshape'][-1]}"
            f" vs {transfers['distribution'][-1]}")  # fmt: skip
    return report(args, rates, transfers)


def report(
    args: argparse.Namespace,
    rates: dict[str, list[float]],
    transfers: dict[str, list[tuple[float, float, float, float]]],
) -> str:
    one = rates["shipshape-1"]
    lines = [
        f"Command: `{run.command_line()}` ({args.rounds} rounds; machine: {os.cpu_count()} CPUs,"
        f" {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}).",
        "",
        "### Manifest GET by tag, processes on PostgreSQL + SeaweedFS (req/s, median [min, max])",
        "",
        "| Server | req/s | vs 1 process | vs Distribution |",
        "|---|---:|---:|---:|",
    ]
    dist = statistics.median(rates["distribution"])
    for count in PROCESS_COUNTS:
        values = rates[f"shipshape-{count}"]
        scale = statistics.median([v / o for v, o in zip(values, one, strict=True)])
        lines.append(f"| Shipshape, {count} process(es) | {med(values)} | {scale:.2f}x |"
                     f" {statistics.median(values) / dist:.2f}x |")  # fmt: skip
    lines.append(f"| Distribution (1 process, S3 driver) | {med(rates['distribution'])} | | 1.00x |")
    lines += [
        "",
        f"### Blob push and pull, {run.human_size(run.gib_to_bytes(args.size_gib))}, one process each, same SeaweedFS",
        "",
        "| Server | push MB/s | pull MB/s | peak PSS during the push (MB) | PSS before it (MB) |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, values in transfers.items():
        lines.append(
            f"| {name} | {med([v[0] for v in values])} | {med([v[1] for v in values])} |"
            f" {med([v[2] for v in values])} | {med([v[3] for v in values])} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="shipshape-scale-", dir=args.tmp_root))
    tmp.chmod(0o755)  # PostgreSQL runs as its own user and must reach its directory
    started: list[Server] = []
    try:
        text = measure(args, tmp, started)
    finally:
        for server in reversed(started):
            server.stop()
        stop_services(tmp)
        shutil.rmtree(tmp, ignore_errors=True)
    print(text)
    if args.out:
        args.out.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
