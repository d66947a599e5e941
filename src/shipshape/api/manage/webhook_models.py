"""The management API's webhook bodies: creating, listing and the deliveries of webhooks."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, Field, WithJsonSchema

from shipshape.api.manage.models import Query, RegistryName, RequestBody, Response
from shipshape.domain.events import EventKind
from shipshape.domain.webhooks import (
    MAX_URL,
    URL_PATTERN,
    Delivery,
    DeliveryState,
    Webhook,
    WebhookInvalid,
    validate_url,
)
from shipshape.services.webhooks import MAX_DELIVERIES

_EVENT_NAMES = ", ".join(kind.value for kind in EventKind)


def _webhook_url(value: str) -> str:
    try:
        return validate_url(value)
    except WebhookInvalid as error:
        raise ValueError(error.message) from None


def _event_kind(value: Any) -> EventKind:
    if not isinstance(value, str) or value not in {kind.value for kind in EventKind}:
        raise ValueError(f"unknown event {str(value)[:40]!r}: use one or more of {_EVENT_NAMES}")
    return EventKind(value)


WebhookUrl = Annotated[
    str,
    Field(
        min_length=1,
        max_length=MAX_URL,
        json_schema_extra={"pattern": URL_PATTERN},
        examples=["https://ci.example.com/hooks/shipshape"],
    ),
    AfterValidator(_webhook_url),
]
EventName = Annotated[
    EventKind,
    BeforeValidator(_event_kind),
    WithJsonSchema({"type": "string", "enum": [kind.value for kind in EventKind]}),
]


class WebhookCreate(RequestBody):
    url: WebhookUrl = Field(description="Where to POST the events: an http or https URL")
    events: list[EventName] | None = Field(
        default=None, min_length=1, max_length=16, description=f"Default: every event ({_EVENT_NAMES})"
    )
    account: RegistryName | None = Field(
        default=None, description="Hear every registry of this account (default: the caller's account)"
    )
    registry: RegistryName | None = Field(default=None, description="Hear this registry only")


class WebhookQuery(Query):
    account: RegistryName | None = Field(default=None, description="Default: the caller's account")
    registry: RegistryName | None = Field(default=None, description="Only the webhooks of this registry")


class DeliveryQuery(Query):
    limit: int = Field(default=50, ge=1, le=MAX_DELIVERIES)


class WebhookOut(Response):
    """A webhook as listed: never its secret."""

    id: str
    account: str
    registry: str | None = Field(description="None: the webhook hears every registry of the account")
    url: str
    events: list[EventKind]
    created_at: datetime
    created_by: str

    @classmethod
    def of(cls, webhook: Webhook) -> WebhookOut:
        return cls(
            id=webhook.id, account=webhook.account, registry=webhook.registry, url=webhook.url,
            events=sorted(webhook.events), created_at=webhook.created_at, created_by=webhook.created_by,
        )  # fmt: skip


class WebhookList(Response):
    webhooks: list[WebhookOut]


class WebhookCreated(Response):
    """Shown once: the secret that signs every delivery (`Shipshape-Signature`) cannot be read again."""

    id: str
    secret: str
    webhook: WebhookOut


class DeliveryOut(Response):
    id: str
    event_id: str = Field(description="The CloudEvent id: the same on every attempt")
    event_type: str
    subject: str
    state: DeliveryState
    attempts: int
    last_status: int | None
    last_error: str | None
    created_at: datetime
    next_attempt_at: datetime | None = Field(description="When the next attempt is due, while pending")
    delivered_at: datetime | None

    @classmethod
    def of(cls, delivery: Delivery) -> DeliveryOut:
        pending = delivery.state is DeliveryState.PENDING
        return cls(
            id=delivery.id, event_id=delivery.event_id, event_type=delivery.event_type, subject=delivery.subject,
            state=delivery.state, attempts=delivery.attempts, last_status=delivery.last_status,
            last_error=delivery.last_error, created_at=delivery.created_at,
            next_attempt_at=delivery.next_attempt_at if pending else None, delivered_at=delivery.delivered_at,
        )  # fmt: skip


class DeliveryList(Response):
    webhook: str
    deliveries: list[DeliveryOut]
