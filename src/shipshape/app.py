"""The composition root: the only module that knows which store and driver implement each port."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import os
import shutil
import signal
import ssl
from collections.abc import AsyncIterator
from datetime import UTC, datetime

from aiohttp import web

from shipshape.api.errors import oci_errors
from shipshape.api.health import healthz
from shipshape.api.metrics import RegistryMetrics, share_between_processes
from shipshape.api.oci.context import SERVICES, OciServices
from shipshape.api.oci.routes import add_routes
from shipshape.config import Settings
from shipshape.logs import AccessLogger, configure_logging
from shipshape.metadata import SqlMetadataStore, open_metadata_store
from shipshape.ports import Clock
from shipshape.services.blobs import BlobService
from shipshape.services.manifests import ManifestService
from shipshape.services.uploads import UploadService
from shipshape.storage.filesystem import FilesystemBlobStore

log = logging.getLogger("shipshape")

API_VERSION_HEADER = ("Docker-Distribution-API-Version", "registry/2.0")


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


def build_app(settings: Settings, clock: Clock | None = None) -> web.Application:
    """The aiohttp application for `settings`, with every service wired to its store and driver."""
    clock = clock or SystemClock()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    metadata = open_metadata_store(settings.metadata_url, clock=clock)
    blob_store = FilesystemBlobStore(settings.data_dir)
    metrics = RegistryMetrics()
    oci = OciServices(
        uploads=UploadService(blob_store, metadata, metadata, clock),
        blobs=BlobService(blob_store, metadata),
        manifests=ManifestService(metadata, clock),
        metrics=metrics,
    )
    app = web.Application(middlewares=[oci_errors])
    app[SERVICES] = oci
    add_routes(app)
    app.router.add_get("/healthz", healthz, name="healthz")
    app.router.add_get("/metrics", metrics.handle, name="metrics")

    async def on_prepare(request: web.Request, response: web.StreamResponse) -> None:
        if request.path.startswith("/v2"):
            response.headers[API_VERSION_HEADER[0]] = API_VERSION_HEADER[1]
        metrics.observe(request, response)

    app.on_response_prepare.append(on_prepare)
    app.cleanup_ctx.append(_purge_abandoned_uploads(oci.uploads, settings))
    app.cleanup_ctx.append(_close_on_exit(metadata))
    return app


def _purge_abandoned_uploads(uploads: UploadService, settings: Settings):  # type: ignore[no-untyped-def]
    interval = max(1.0, min(settings.upload_max_idle.total_seconds() / 4, 600.0))

    async def purge_loop() -> None:
        while True:
            try:
                purged = await uploads.purge_idle(settings.upload_max_idle)
                if purged:
                    log.info("purged abandoned uploads", extra={"count": purged})
            except Exception:
                log.exception("purging abandoned uploads failed")
            await asyncio.sleep(interval)

    async def context(app: web.Application) -> AsyncIterator[None]:
        task = asyncio.create_task(purge_loop())
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    return context


def _close_on_exit(metadata: SqlMetadataStore):  # type: ignore[no-untyped-def]
    async def context(app: web.Application) -> AsyncIterator[None]:
        yield
        await metadata.close()

    return context


def serve(settings: Settings) -> None:
    """Apply migrations, then serve with one process or several sharing the port."""
    from shipshape.metadata.migrate import migrate  # only here: workers need not load Alembic

    configure_logging(settings.log_json, settings.log_level)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    migrate(settings.metadata_url)
    if settings.workers == 1:
        _run_worker(settings)
        return
    metrics_dir = settings.data_dir / "metrics"
    shutil.rmtree(metrics_dir, ignore_errors=True)
    metrics_dir.mkdir()
    share_between_processes(metrics_dir)
    # Fork after the imports and migrations: workers start at once and share the parent's pages until they
    # write to them. Nothing in the parent holds a thread or a database connection at this point.
    context = multiprocessing.get_context("fork")
    workers = [context.Process(target=_run_worker, args=(settings,)) for _ in range(settings.workers)]
    for worker in workers:
        worker.start()
    log.info("serving", extra={"listen": settings.listen, "workers": settings.workers})

    def stop(signum: int, frame: object) -> None:
        for worker in workers:
            if worker.pid is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(worker.pid, signal.SIGTERM)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    for worker in workers:
        worker.join()


def _run_worker(settings: Settings) -> None:
    configure_logging(settings.log_json, settings.log_level)
    # The default asyncio loop, not uvloop: aiohttp's FileResponse uses sendfile only there.
    web.run_app(
        build_app(settings),
        host=settings.host,
        port=settings.port,
        ssl_context=_tls_context(settings),
        access_log_class=AccessLogger,
        reuse_port=settings.workers > 1,
        print=None,
    )


def _tls_context(settings: Settings) -> ssl.SSLContext | None:
    if settings.tls_cert is None and settings.tls_key is None:
        return None
    if settings.tls_cert is None or settings.tls_key is None:
        raise ValueError("TLS needs both --tls-cert and --tls-key")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(settings.tls_cert, settings.tls_key)
    return context
