"""Manifest PUT load: N distinct OCI image manifests, each under a new tag, over a bounded number of connections.

The config and layer blobs are uploaded once per repository (``upload_image``, untimed); every manifest then
references them and differs from the others by one annotation, so each PUT stores a new manifest and a new tag
(``v1.0.<n>``, semver, so that a production registry's tag rules accept it). Bodies and digests are computed
before the clock starts. ``put_manifests`` runs ``clients`` aiohttp workers on one keep-alive connection each;
any answer but 201 with the right ``Docker-Content-Digest`` stops the run and fails the measurement.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import statistics
import time
from dataclasses import dataclass

import aiohttp
import client

ANNOTATION = "org.shipshape.bench.n"


def tag_for(n: int) -> str:
    return f"v1.0.{n}"


@dataclass(frozen=True)
class Image:
    """The blobs a repository holds for the manifests to reference."""

    config_digest: str
    config_size: int
    layer_digest: str
    layer_size: int

    def manifest(self, n: int) -> bytes:
        """The ``n``-th manifest: the same image, with ``n`` in an annotation (so a distinct digest)."""
        return json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": client.OCI_MANIFEST,
                "config": {"mediaType": client.OCI_CONFIG, "digest": self.config_digest, "size": self.config_size},
                "layers": [{"mediaType": client.OCI_LAYER, "digest": self.layer_digest, "size": self.layer_size}],
                "annotations": {ANNOTATION: str(n)},
            }
        ).encode()


def upload_image(reg: client.Registry, repo: str) -> Image:
    """Upload one small config blob and one 4 KiB layer blob into ``repo`` (POST + PUT each)."""
    layer = os.urandom(4096)
    layer_digest = client.push_bytes(reg, repo, layer)
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "config": {"Cmd": ["/bin/true"]},
            "rootfs": {"type": "layers", "diff_ids": [layer_digest]},
        }
    ).encode()
    return Image(client.push_bytes(reg, repo, config), len(config), layer_digest, len(layer))


def put_one(reg: client.Registry, repo: str, tag: str, body: bytes, expect: int = 201) -> client.Response:
    """One manifest PUT with the synchronous client (for setup checks)."""
    return reg.request("PUT", f"/v2/{repo}/manifests/{tag}", {"Content-Type": client.OCI_MANIFEST}, body, expect)


@dataclass(frozen=True)
class PutResult:
    manifests: int
    seconds: float
    latencies: tuple[float, ...]  # seconds, one per PUT
    client_cpu: float  # CPU seconds this harness process used during the run (all its threads)

    @property
    def rate(self) -> float:
        return self.manifests / self.seconds

    def latency_ms(self, q: float) -> float:
        if len(self.latencies) < 2:
            return 1000 * sum(self.latencies)
        cuts = statistics.quantiles(self.latencies, n=100, method="inclusive")
        return 1000 * cuts[round(q * 100) - 1]


class PutFailed(RuntimeError):
    """A PUT was not answered 201 with the manifest's digest."""


def put_manifests(
    host: str,
    port: int,
    repo: str,
    image: Image,
    first: int,
    count: int,
    clients: int,
    authorization: str | None = None,
    request_timeout: float = 60.0,
    run_timeout: float = 1800.0,
) -> PutResult:
    """PUT manifests ``first`` … ``first + count - 1`` of ``image`` under their tags, ``clients`` at a time."""
    work = []
    for n in range(first, first + count):
        body = image.manifest(n)
        work.append((tag_for(n), body, "sha256:" + hashlib.sha256(body).hexdigest()))
    return asyncio.run(
        _put_all(f"http://{host}:{port}", repo, work, clients, authorization, request_timeout, run_timeout)
    )


async def _put_all(
    base_url: str,
    repo: str,
    work: list[tuple[str, bytes, str]],
    clients: int,
    authorization: str | None,
    request_timeout: float,
    run_timeout: float,
) -> PutResult:
    headers = {"Content-Type": client.OCI_MANIFEST}
    if authorization is not None:
        headers["Authorization"] = authorization
    pending = iter(work)  # shared by the workers: next() never awaits, so each item goes to exactly one
    latencies: list[float] = []

    async def worker(session: aiohttp.ClientSession) -> None:
        for tag, body, digest in pending:
            t0 = time.perf_counter()
            async with session.put(f"/v2/{repo}/manifests/{tag}", data=body, headers=headers) as resp:
                answer = await resp.read()
                if resp.status != 201:
                    raise PutFailed(f"PUT {repo}:{tag}: HTTP {resp.status} (want 201): {answer[:300]!r}")
                got = resp.headers.get("Docker-Content-Digest")
                if got != digest:
                    raise PutFailed(f"PUT {repo}:{tag}: Docker-Content-Digest {got!r}, want {digest}")
            latencies.append(time.perf_counter() - t0)

    connector = aiohttp.TCPConnector(limit=clients)
    timeout = aiohttp.ClientTimeout(total=request_timeout)
    async with aiohttp.ClientSession(
        base_url, connector=connector, timeout=timeout, skip_auto_headers=("User-Agent",)
    ) as session:
        cpu0, t0 = time.process_time(), time.perf_counter()
        try:
            async with asyncio.timeout(run_timeout), asyncio.TaskGroup() as group:
                for _ in range(clients):
                    group.create_task(worker(session))
        except ExceptionGroup as failed:  # the first failure; the group cancelled the other workers
            raise _first(failed) from None
        except TimeoutError:
            raise PutFailed(f"{len(latencies)} of {len(work)} PUTs done after {run_timeout:.0f} s") from None
        seconds, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    if len(latencies) != len(work):
        raise PutFailed(f"{len(latencies)} of {len(work)} PUTs answered")
    return PutResult(len(work), seconds, tuple(latencies), cpu)


def _first(group: BaseExceptionGroup[BaseException]) -> BaseException:
    error = group.exceptions[0]
    return _first(error) if isinstance(error, BaseExceptionGroup) else error


def summary(runs: list[PutResult]) -> str:
    """Per run: manifests, seconds, latency p50/p99 and the harness's CPU, for the notes."""
    return (
        f"manifests {'/'.join(str(r.manifests) for r in runs)} in {'/'.join(f'{r.seconds:.1f}' for r in runs)} s"
        f", latency p50 {'/'.join(f'{r.latency_ms(0.5):.1f}' for r in runs)} ms"
        f", p99 {'/'.join(f'{r.latency_ms(0.99):.1f}' for r in runs)} ms"
        f"; the harness used {'/'.join(f'{r.client_cpu / r.seconds:.0%}' for r in runs)} of one core"
    )
