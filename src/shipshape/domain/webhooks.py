"""Webhooks: who subscribes to which registry events, the deliveries owed to them, and the rules of both.

A webhook belongs to an account and hears every registry of it, or to one registry and hears only that one. Its
secret is never stored: it is derived from a server key, the webhook's id and a random salt (`derive_secret`).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from urllib.parse import urlsplit

from shipshape.domain.errors import RegistryError
from shipshape.domain.events import EventKind, RegistryEvent

ALL_EVENTS = frozenset(EventKind)
SECRET_PREFIX = "whsec_"
MAX_URL = 2048
# Printable ASCII only (an international host in its xn-- form, other characters percent-encoded).
URL_PATTERN = r'^https?://[!"$-.0->@-~]+([/?#][!-~]*)?$'
DEFAULT_MAX_ATTEMPTS = 8
DEFAULT_RETRY_DELAY = timedelta(seconds=10)
MAX_RETRY_DELAY = timedelta(hours=1)


class WebhookInvalid(RegistryError):
    """A webhook request the rules refuse (its URL, its events, where it listens)."""


class DeliveryState(StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"  # gave up after the last attempt


@dataclass(frozen=True, slots=True)
class Webhook:
    """A URL that hears the `events` of `account`'s registries, or of `registry` only when it is set."""

    id: str
    account: str
    url: str
    events: frozenset[EventKind]
    salt: str  # random, per webhook: with the server key, it derives the secret
    created_at: datetime
    created_by: str
    registry: str | None = None


@dataclass(frozen=True, slots=True)
class Delivery:
    """One event owed to one webhook: the exact body to send, and how sending it went so far."""

    id: str
    webhook_id: str
    event_id: str  # the CloudEvent's id: the same on every attempt, and for every webhook hearing the event
    event_type: str
    subject: str
    payload: str  # the JSON body, sent (and signed) byte for byte on every attempt
    created_at: datetime
    next_attempt_at: datetime
    state: DeliveryState = DeliveryState.PENDING
    attempts: int = 0
    last_status: int | None = None
    last_error: str | None = None
    delivered_at: datetime | None = None


def matches(webhook: Webhook, event: RegistryEvent) -> bool:
    """Whether `webhook` hears `event`: same account, its registry if it names one, and a subscribed kind."""
    if webhook.account != event.account or event.kind not in webhook.events:
        return False
    return webhook.registry is None or webhook.registry == event.registry


def retry_delay(attempt: int, base: timedelta, cap: timedelta = MAX_RETRY_DELAY) -> timedelta:
    """How long to wait after failed attempt number `attempt` (1-based): base * 2**(attempt-1), at most `cap`."""
    if attempt < 1:
        raise ValueError(f"attempts count from 1, got {attempt}")
    if attempt > 64:  # past every cap already: no huge numbers
        return cap
    seconds = base.total_seconds() * 2.0 ** (attempt - 1)
    return cap if seconds >= cap.total_seconds() else timedelta(seconds=seconds)


def derive_secret(key: bytes, webhook_id: str, salt: str) -> str:
    """The webhook's signing secret: HMAC-SHA256 of its id and salt under the server key, as `whsec_…`."""
    digest = hmac.new(key, f"{webhook_id}.{salt}".encode(), hashlib.sha256).digest()
    return SECRET_PREFIX + base64.urlsafe_b64encode(digest).decode().rstrip("=")


def signature(secret: str, body: bytes) -> str:
    """The `Shipshape-Signature` header value: `sha256=` and the hex HMAC-SHA256 of `body` under `secret`."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def validate_url(url: str) -> str:
    """`url` if it is an absolute http or https URL with a host; `WebhookInvalid` saying what to send otherwise."""
    if len(url) > MAX_URL:
        raise WebhookInvalid(f"the webhook URL is {len(url)} characters long: use at most {MAX_URL}")
    if re.fullmatch(URL_PATTERN, url) is None:
        raise WebhookInvalid(
            "the webhook URL must be an http:// or https:// URL of printable ASCII (percent-encode anything else),"
            " e.g. https://ci.example.com/hook"
        )
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise WebhookInvalid(
            "the webhook URL's host or port is malformed: e.g. https://ci.example.com:8443/hook"
        ) from None
    if not parts.hostname:
        raise WebhookInvalid("the webhook URL names no host: e.g. https://ci.example.com/hook")
    if port == 0:
        raise WebhookInvalid("the webhook URL's port is 0: name the port the receiver listens on, or none")
    return url


def redact_url(url: str) -> str:
    """`url` without a user, password, query or fragment, which may carry a token (for the audit log)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    port = f":{parts.port}" if parts.port is not None else ""
    return f"{parts.scheme}://{host}{port}{parts.path}"
