"""Webhooks: creating (the secret shown once), listing and deleting them, and reading how their deliveries went.

Managing webhooks takes the right to manage the account's registries; listing them too, since a webhook URL often
carries a token of its receiver. Any member of the account may read how deliveries went (no URL, no body).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from shipshape.domain.errors import NameUnknown
from shipshape.domain.events import EventKind
from shipshape.domain.webhooks import (
    ALL_EVENTS,
    Delivery,
    Webhook,
    WebhookInvalid,
    derive_secret,
    redact_url,
    validate_url,
)
from shipshape.ports import AccessStore, Clock, Epoch, WebhookStore
from shipshape.services import rights
from shipshape.services.accounts import known_account
from shipshape.services.audit import Actor, AuditLog
from shipshape.services.registries import known_registry

MAX_DELIVERIES = 500
MAX_WEBHOOKS_PER_ACCOUNT = 50  # each event writes one delivery row per webhook hearing it
RIGHT = "registries"  # managing webhooks takes what managing registries takes


@dataclass(frozen=True, slots=True)
class WebhookRequest:
    """What `create_webhook` is asked for: at most one of `account` and `registry` (neither: the member's account)."""

    url: str
    events: frozenset[EventKind] = ALL_EVENTS
    account: str | None = None
    registry: str | None = None


@dataclass(frozen=True, slots=True)
class IssuedWebhook:
    """A new webhook and its signing secret, shown only this once (the server derives it again to sign)."""

    webhook: Webhook
    secret: str


def new_webhook_id() -> str:
    return "wh_" + secrets.token_hex(8)


async def known_webhook(store: WebhookStore, webhook_id: str) -> Webhook:
    """The webhook `webhook_id`; `NameUnknown` if there is none."""
    webhook = await store.get_webhook(webhook_id)
    if webhook is None:
        raise NameUnknown(f"webhook {webhook_id!r} does not exist: see `shipshape webhook list`")
    return webhook


class Webhooks:
    """The webhook use cases; `key` is the server key that every webhook secret is derived from."""

    def __init__(
        self, store: WebhookStore, access: AccessStore, clock: Clock, audit: AuditLog, key: bytes,
        settings: Epoch | None = None,
    ) -> None:  # fmt: skip
        self._settings = settings  # advanced on every change, so that each process reloads who hears what
        self._store = store
        self._access = access
        self._clock = clock
        self._audit = audit
        self._key = key

    async def create_webhook(self, actor: Actor, request: WebhookRequest) -> IssuedWebhook:
        webhook_id = new_webhook_id()
        owner = request.account or actor.member.account
        async with self._audit.failures(actor, "webhook.create", webhook_id, account=owner, registry=request.registry):
            if request.registry is not None:
                owner = await self._registry_account(request)
            refusal = rights.may_manage(actor.member, owner, RIGHT)
            await self._audit.enforce(actor, refusal, "webhook.create", webhook_id, owner, registry=request.registry)
            validate_url(request.url)
            if not request.events:
                raise WebhookInvalid("subscribe to at least one event: " + ", ".join(kind.value for kind in EventKind))
            await known_account(self._access, owner)
            if len(await self._store.list_webhooks(owner, None)) >= MAX_WEBHOOKS_PER_ACCOUNT:
                raise WebhookInvalid(
                    f"account {owner} has {MAX_WEBHOOKS_PER_ACCOUNT} webhooks, the most it may have: delete one first"
                )
            webhook = Webhook(
                id=webhook_id, account=owner, registry=request.registry, url=request.url, events=request.events,
                salt=secrets.token_hex(16), created_at=self._clock.now(), created_by=actor.member.username,
            )  # fmt: skip
            await self._store.create_webhook(webhook)
        self._changed()
        await self._audit.record(
            actor, "webhook.create", webhook_id, account=owner, registry=request.registry,
            detail={"url": redact_url(request.url), "events": ",".join(sorted(request.events))},
        )  # fmt: skip
        return IssuedWebhook(webhook, derive_secret(self._key, webhook.id, webhook.salt))

    async def list_webhooks(
        self, actor: Actor, account: str | None = None, registry: str | None = None
    ) -> list[Webhook]:
        """Webhooks of `account` (default: the member's; every account's for a server administrator), or of
        `registry` only; never their secrets."""
        if registry is not None:
            found = await self._access.get_registry(registry)
            account = found.account if found is not None else account
        if account is None:
            if rights.is_server_admin(actor.member):
                return await self._store.list_webhooks(None, registry)
            account = actor.member.account
        refusal = rights.may_manage(actor.member, account, RIGHT)
        await self._audit.enforce(actor, refusal, "webhook.list", registry or account, account, registry=registry)
        return await self._store.list_webhooks(account, registry)

    async def delete_webhook(self, actor: Actor, webhook_id: str) -> None:
        webhook = await known_webhook(self._store, webhook_id)
        refusal = rights.may_manage(actor.member, webhook.account, RIGHT)
        await self._audit.enforce(actor, refusal, "webhook.delete", webhook_id, webhook.account, webhook.registry)
        async with self._audit.failures(
            actor, "webhook.delete", webhook_id, account=webhook.account, registry=webhook.registry
        ):
            await self._store.delete_webhook(webhook_id)
        self._changed()
        await self._audit.record(
            actor, "webhook.delete", webhook_id, account=webhook.account, registry=webhook.registry,
            detail={"url": redact_url(webhook.url)},
        )  # fmt: skip

    async def deliveries(self, actor: Actor, webhook_id: str, limit: int = 50) -> tuple[Webhook, list[Delivery]]:
        """The webhook and its most recent deliveries, newest first."""
        webhook = await known_webhook(self._store, webhook_id)
        refusal = rights.may_read(actor.member, webhook.account)
        await self._audit.enforce(actor, refusal, "webhook.deliveries", webhook_id, webhook.account, webhook.registry)
        return webhook, await self._store.deliveries(webhook_id, max(1, min(limit, MAX_DELIVERIES)))

    def _changed(self) -> None:
        if self._settings is not None:
            self._settings.advance()

    async def _registry_account(self, request: WebhookRequest) -> str:
        """The account of the registry the request names, which must be the account it names, if any."""
        assert request.registry is not None
        registry = await known_registry(self._access, request.registry)
        if request.account is not None and request.account != registry.account:
            raise WebhookInvalid(
                f"registry {registry.name!r} belongs to account {registry.account!r}, not {request.account!r}:"
                " give the registry alone, or the account alone for a webhook hearing all its registries"
            )
        return registry.account
