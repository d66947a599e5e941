"""The composition root: the only module that knows which store and driver implement each port."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

from aiohttp import web

from shipshape.api.errors import oci_errors
from shipshape.api.events import EVENTS
from shipshape.api.health import healthz
from shipshape.api.manage.context import MANAGE, ManageServices
from shipshape.api.manage.routes import add_manage_routes
from shipshape.api.metrics import RegistryMetrics
from shipshape.api.oci.access import ACCESS, AccessControl, oci_access, token_endpoint
from shipshape.api.oci.admissions import Admissions
from shipshape.api.oci.context import SERVICES, OciServices
from shipshape.api.oci.routes import add_routes
from shipshape.auth.tokens import TokenIssuer
from shipshape.auth.webhook_key import load_or_create_webhook_key
from shipshape.config import Settings
from shipshape.metadata import open_metadata_store
from shipshape.metadata.access_store import SqlAccessStore, open_access_store
from shipshape.metadata.database import Database, open_database
from shipshape.metadata.lifecycle_store import SqlLifecycleStore
from shipshape.metadata.store import SqlMetadataStore
from shipshape.metadata.usage_store import SqlUsageStore
from shipshape.metadata.webhook_store import SqlWebhookStore, open_webhook_store
from shipshape.ports import AccessStore, BlobStore, Clock
from shipshape.services.administration import Administration
from shipshape.services.audit import AuditLog
from shipshape.services.authentication import Authenticator, LoginPolicy
from shipshape.services.authorization import Authorizer
from shipshape.services.blobs import BlobService
from shipshape.services.checklist import Checklist
from shipshape.services.epochs import SharedEpoch
from shipshape.services.garbage import GarbageCollector
from shipshape.services.images import ImageService
from shipshape.services.inventory import Inventory
from shipshape.services.jobs import process_identity
from shipshape.services.maintenance import Maintenance
from shipshape.services.manifests import ManifestService
from shipshape.services.policies import RegistryRules
from shipshape.services.promotion import Promotions
from shipshape.services.pulls import PullRecorder
from shipshape.services.quotas import Quotas
from shipshape.services.retention import Retention
from shipshape.services.uploads import UploadService
from shipshape.services.usage import UsageReports
from shipshape.services.webhook_delivery import DeliveryPolicy, WebhookDeliverer
from shipshape.services.webhooks import Webhooks
from shipshape.storage.epoch import FileEpoch
from shipshape.storage.filesystem import FilesystemBlobStore
from shipshape.web.routes import add_console

if TYPE_CHECKING:
    from shipshape.storage.s3 import S3BlobStore

log = logging.getLogger("shipshape")

FAILED_LOGIN_MEMORY = timedelta(days=1)  # longer than any lockout window
DELIVERY_MEMORY = timedelta(days=30)  # finished webhook deliveries are kept this long
RETENTION_FIRST_RUN = 600.0  # seconds after a start before the first scheduled retention run
USAGE_SNAPSHOT_INTERVAL = 6 * 3600.0  # the day's usage snapshot is refreshed this often
API_VERSION_HEADER = ("Docker-Distribution-API-Version", "registry/2.0")
REVOCATION_EPOCH = web.AppKey("revocation_epoch", SharedEpoch)
SETTINGS_EPOCH = web.AppKey("settings_epoch", SharedEpoch)


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


def build_app(settings: Settings, clock: Clock | None = None) -> web.Application:
    """The aiohttp application for `settings`, with every service wired to its store and driver."""
    clock = clock or SystemClock()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    # One set of connections and one writer for every store of the process (see `metadata.database`).
    database = open_database(settings.metadata_url)
    metadata = open_metadata_store(settings.metadata_url, clock=clock, database=database)
    blob_store = open_blob_store(settings)
    metrics = RegistryMetrics()
    app = web.Application(middlewares=[oci_errors, oci_access])
    # First in, last out: the store closes after every background job that uses it has stopped.
    app.cleanup_ctx.append(_close_on_exit(metadata))
    app.cleanup_ctx.append(_open_and_close(blob_store))
    # With authentication off there are no registries, hence no policies and no events.
    access_store = open_access_store(settings.metadata_url, database=database) if settings.auth else None
    rules, webhooks, quotas, authorizer = None, None, None, None
    if access_store is not None:
        # Registries and webhooks are cached in each process until the settings epoch moves.
        settings_epoch = SharedEpoch("settings", FileEpoch(settings.data_dir / "settings-epoch"), access_store)
        app[SETTINGS_EPOCH] = settings_epoch
        app.cleanup_ctx.append(_running(settings_epoch.run))
        authorizer = Authorizer(access_store, clock, settings_epoch)
        # Webhooks: the event sink handlers publish to (`app[EVENTS]`), their management and background delivery.
        webhooks = _add_webhooks(app, settings, access_store, clock, database, settings_epoch)
        rules = RegistryRules(authorizer, clock, app[EVENTS])
        quotas = Quotas(SqlUsageStore(metadata), access_store, rules, clock)
    lifecycle = SqlLifecycleStore(metadata)
    collector = GarbageCollector(lifecycle, blob_store, clock, settings.gc_grace)
    app.cleanup_ctx.append(
        _every(
            settings.gc_interval.total_seconds(),
            "garbage collection deleted blobs",
            collector.collect_if_free,
            first_after=settings.gc_interval.total_seconds(),
        )
    )
    pulls = PullRecorder(metadata, clock) if settings.pull_tracking else None
    if pulls is not None:
        app.cleanup_ctx.append(_running(pulls.run))
    enforced = quotas if settings.quotas else None
    oci = OciServices(
        uploads=UploadService(blob_store, metadata, metadata, clock, enforced),
        blobs=BlobService(blob_store, metadata),
        manifests=ManifestService(metadata, clock, rules, enforced),
        metrics=metrics,
        pulls=pulls,
    )
    app[SERVICES] = oci
    add_routes(app)
    if access_store is not None and rules is not None and quotas is not None and authorizer is not None:
        _add_access(
            app, settings, clock, access_store, metadata, blob_store, rules, webhooks, collector, oci, lifecycle,
            quotas, authorizer,
        )  # fmt: skip
    # The console answers with a page that says it needs --auth when authentication is off.
    add_console(app, settings.data_dir)
    _add_operations(app, settings, metrics, oci)
    return app


def open_blob_store(settings: Settings) -> FilesystemBlobStore | S3BlobStore:
    """The blob store `settings.blob_store` names: a directory (default: the data dir) or an S3 bucket."""
    if settings.blob_dir is not None:
        return FilesystemBlobStore(settings.blob_dir)
    from shipshape.storage.s3 import S3BlobStore, S3Location  # only here: its client library is large

    assert settings.blob_store is not None
    location = S3Location.parse(settings.blob_store, settings.s3_endpoint_url, settings.s3_region)
    return S3BlobStore(location, redirect=settings.s3_redirect)


def _add_access(
    app: web.Application,
    settings: Settings,
    clock: Clock,
    access_store: SqlAccessStore,
    metadata: SqlMetadataStore,
    blob_store: BlobStore,
    rules: RegistryRules,
    webhooks: Webhooks | None,
    collector: GarbageCollector,
    oci: OciServices,
    lifecycle: SqlLifecycleStore,
    quotas: Quotas,
    authorizer: Authorizer,
) -> None:
    """Authentication and authorisation of `/v2/`, the token endpoint, and the management API."""
    epoch = SharedEpoch("revocations", FileEpoch(settings.data_dir / "revocation-epoch"), access_store)
    app[REVOCATION_EPOCH] = epoch
    app.cleanup_ctx.append(_running(epoch.run))
    policy = LoginPolicy(
        max_failures_per_identity=settings.lockout_failures,
        window=settings.lockout_duration,
    )
    authenticator = Authenticator(access_store, clock, policy, epoch)
    app[ACCESS] = AccessControl(
        authenticator=authenticator,
        authorizer=authorizer,
        tokens=TokenIssuer(settings.data_dir),
        store=access_store,
        clock=clock,
        public_url=settings.public_url,
        admissions=Admissions((epoch, app[SETTINGS_EPOCH]), policy.cache_ttl),
    )
    retention = Retention(
        access_store, lifecycle, metadata, clock, AuditLog(access_store, clock), process_identity(), rules, oci.pulls
    )
    usage = UsageReports(SqlUsageStore(metadata), lifecycle, access_store, AuditLog(access_store, clock), clock)
    app[MANAGE] = ManageServices(
        administration=Administration(access_store, clock, authenticator, authorizer, quotas.forget),
        clock=clock,
        public_url=settings.public_url,
        webhooks=webhooks,
        promotions=Promotions(metadata, rules, authorizer, access_store, clock),
        images=ImageService(metadata, blob_store, authorizer, oci.pulls),
        maintenance=Maintenance(collector, AuditLog(access_store, clock)),
        inventory=Inventory(lifecycle, metadata, oci.manifests, authorizer, oci.pulls),
        retention=retention,
        usage=usage,
        checklist=Checklist(access_store, AuditLog(access_store, clock), clock),
    )
    add_manage_routes(app)
    app.router.add_get("/auth/token", token_endpoint, name="token")

    async def forget_failed_logins() -> int:
        return await access_store.forget_login_failures_before(clock.now() - FAILED_LOGIN_MEMORY)

    app.cleanup_ctx.append(_close_on_exit(access_store))  # closed after the jobs below have stopped
    app.cleanup_ctx.append(_every(3600, "forgot old failed logins", forget_failed_logins))
    app.cleanup_ctx.append(
        _every(
            settings.retention_interval.total_seconds(),
            "retention deleted manifests",
            retention.run_scheduled,
            # Soon after a start too, so that a server restarted more often than the interval still applies rules.
            first_after=min(settings.retention_interval.total_seconds(), RETENTION_FIRST_RUN),
        )
    )
    app.cleanup_ctx.append(_every(USAGE_SNAPSHOT_INTERVAL, "usage snapshots of accounts", usage.snapshot_all))


def _add_operations(app: web.Application, settings: Settings, metrics: RegistryMetrics, oci: OciServices) -> None:
    """Health and metrics endpoints, the API version header, and the purge of abandoned uploads."""
    app.router.add_get("/healthz", healthz, name="healthz")
    app.router.add_get("/metrics", metrics.handle, name="metrics")

    async def on_prepare(request: web.Request, response: web.StreamResponse) -> None:
        if request.path.startswith("/v2"):
            response.headers[API_VERSION_HEADER[0]] = API_VERSION_HEADER[1]
        metrics.observe(request, response)

    app.on_response_prepare.append(on_prepare)
    purge_interval = max(1.0, min(settings.upload_max_idle.total_seconds() / 4, 600.0))
    app.cleanup_ctx.append(
        _every(purge_interval, "purged abandoned uploads", lambda: oci.uploads.purge_idle(settings.upload_max_idle))
    )


def _every(seconds: float, what: str, job: Callable[[], Awaitable[int]], first_after: float = 0.0):  # type: ignore[no-untyped-def]
    """A background task running `job` every `seconds` while the app runs, the first time `first_after` seconds
    after the start; `job` returns how much it did."""

    async def loop() -> None:
        if first_after:
            await asyncio.sleep(first_after)
        while True:
            try:
                done = await job()
                if done:
                    log.info(what, extra={"count": done})
            except Exception:
                log.exception("%s failed", what)
            await asyncio.sleep(seconds)

    async def context(app: web.Application) -> AsyncIterator[None]:
        task = asyncio.create_task(loop())
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    return context


def _running(task: Callable[[], Coroutine[Any, Any, None]]) -> Callable[[web.Application], AsyncIterator[None]]:
    """A background task that runs while the app runs, cancelled (and so finishing its work) at shutdown."""

    async def context(app: web.Application) -> AsyncIterator[None]:
        running = asyncio.create_task(task())
        yield
        running.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await running

    return context


class _Closable(Protocol):
    async def close(self) -> None: ...


class _Openable(_Closable, Protocol):
    async def open(self) -> None: ...


def _open_and_close(store: _Openable):  # type: ignore[no-untyped-def]
    async def context(app: web.Application) -> AsyncIterator[None]:
        await store.open()
        yield
        await store.close()

    return context


def _close_on_exit(store: _Closable):  # type: ignore[no-untyped-def]
    async def context(app: web.Application) -> AsyncIterator[None]:
        yield
        await store.close()

    return context


def _add_webhooks(
    app: web.Application, settings: Settings, access: AccessStore, clock: Clock, database: Database, epoch: SharedEpoch
) -> Webhooks:
    """Set `app[EVENTS]` to the webhook deliverer, run its loop while the app runs; the webhook use cases."""
    store = open_webhook_store(settings.metadata_url, database=database)
    key = load_or_create_webhook_key(settings.data_dir)
    policy = DeliveryPolicy(
        retry_delay=timedelta(seconds=settings.webhook_retry_delay), allow_private=settings.webhook_allow_private
    )
    deliverer = WebhookDeliverer(store, store, clock, key, policy, epoch)
    app[EVENTS] = deliverer
    app.cleanup_ctx.append(_delivering(deliverer, store))
    app.cleanup_ctx.append(
        _every(3600, "forgot old webhook deliveries", lambda: store.forget_finished(clock.now() - DELIVERY_MEMORY))
    )
    return Webhooks(store, access, clock, AuditLog(access, clock), key, epoch)


def _delivering(
    deliverer: WebhookDeliverer, store: SqlWebhookStore
) -> Callable[[web.Application], AsyncIterator[None]]:
    async def context(app: web.Application) -> AsyncIterator[None]:
        task = asyncio.create_task(deliverer.run())
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await store.close()

    return context
