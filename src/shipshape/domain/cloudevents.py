"""Registry events as CloudEvents 1.0 in the structured JSON format (https://cloudevents.io), as webhooks get them."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from shipshape.domain.events import EventKind, RegistryEvent

SPEC_VERSION = "1.0"
CONTENT_TYPE = "application/cloudevents+json"
EVENT_TYPES: dict[EventKind, str] = {
    EventKind.PUSH: "dev.shipshape.image.pushed",
    EventKind.DELETE: "dev.shipshape.image.deleted",
    EventKind.PROMOTION: "dev.shipshape.image.promoted",
    EventKind.POLICY_REFUSAL: "dev.shipshape.policy.refused",
    EventKind.USAGE_ALERT: "dev.shipshape.usage.alert",
}


def subject(event: RegistryEvent) -> str:
    """`<repository>:<tag>` when a tag is involved, else `<repository>@<digest>`, else the repository."""
    if event.tag is not None:
        return f"{event.repository}:{event.tag}"
    if event.digest is not None:
        return f"{event.repository}@{event.digest}"
    return event.repository


def rfc3339(moment: datetime) -> str:
    """`moment` in UTC as RFC 3339 with a `Z`, e.g. `2026-03-01T12:00:00.250000Z`."""
    if moment.tzinfo is None:
        raise ValueError(f"naive datetime {moment.isoformat()}: pass a timezone-aware time")
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def cloud_event(event: RegistryEvent, event_id: str) -> dict[str, Any]:
    """The structured CloudEvent of `event`, named `event_id` (unique per event, kept across retries)."""
    return {
        "specversion": SPEC_VERSION,
        "id": event_id,
        "source": f"/registries/{event.registry}",
        "type": EVENT_TYPES[event.kind],
        "subject": subject(event),
        "time": rfc3339(event.time),
        "datacontenttype": "application/json",
        "data": {
            "account": event.account,
            "registry": event.registry,
            "repository": event.repository,
            "digest": event.digest,
            "tag": event.tag,
            "actor": event.actor,
            "credential": event.credential,
            "detail": dict(event.detail),
        },
    }


def encode(document: dict[str, Any]) -> str:
    """The JSON text sent as the request body (compact, keys in a stable order)."""
    return json.dumps(document, separators=(",", ":"), sort_keys=True, ensure_ascii=False)
