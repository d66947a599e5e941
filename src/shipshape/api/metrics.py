"""Prometheus metrics: requests by route and status, bytes in and out, uploads, mounts and pulls."""

from __future__ import annotations

import os
from pathlib import Path

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, generate_latest, values
from prometheus_client.multiprocess import MultiProcessCollector

MULTIPROCESS_ENV = "PROMETHEUS_MULTIPROC_DIR"


def share_between_processes(directory: Path) -> None:
    """Make counters created from now on (in this process and its forks) write to files in `directory`.

    prometheus-client picks its value class when it is first imported; the registry imports it before it knows
    how many workers it will fork, so switch the class here as well as setting the environment.
    """
    os.environ[MULTIPROCESS_ENV] = str(directory)
    values.ValueClass = values.MultiProcessValue()  # type: ignore[no-untyped-call]


class RegistryMetrics:
    """The registry's counters. With several worker processes, values are shared through files."""

    def __init__(self) -> None:
        multiprocess = MULTIPROCESS_ENV in os.environ
        self.registry = CollectorRegistry()
        if multiprocess:
            MultiProcessCollector(self.registry)  # type: ignore[no-untyped-call]
        # In multiprocess mode the counters write to shared files and the collector reads them all.
        own = None if multiprocess else self.registry
        self.requests = Counter(
            "shipshape_http_requests", "HTTP requests by route, method and status",
            ["route", "method", "status"], registry=own,
        )  # fmt: skip
        self.bytes_in = Counter(
            "shipshape_http_request_bytes", "Bytes received in blob and manifest bodies", registry=own
        )
        self.bytes_out = Counter("shipshape_http_response_bytes", "Bytes sent in response bodies", registry=own)
        self.blob_uploads = Counter("shipshape_blob_uploads", "Blob uploads completed", registry=own)
        self.blob_mounts = Counter("shipshape_blob_mounts", "Blobs mounted from another repository", registry=own)
        self.blob_pulls = Counter("shipshape_blob_pulls", "Blob downloads started", registry=own)
        self.manifest_pushes = Counter("shipshape_manifest_pushes", "Manifests pushed", registry=own)
        self.manifest_pulls = Counter("shipshape_manifest_pulls", "Manifests served (GET)", registry=own)

    def observe(self, request: web.BaseRequest, response: web.StreamResponse) -> None:
        """Count a response as it starts (content length is known by then, even for sendfile)."""
        route = _route_name(request)
        self.requests.labels(route, request.method, str(response.status)).inc()
        if response.content_length and request.method != "HEAD":
            self.bytes_out.inc(response.content_length)

    async def handle(self, request: web.Request) -> web.Response:
        body = generate_latest(self.registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


def _route_name(request: web.BaseRequest) -> str:
    match_info = getattr(request, "match_info", None)
    route = getattr(match_info, "route", None)
    name = getattr(route, "name", None)
    return name if isinstance(name, str) else "unmatched"
