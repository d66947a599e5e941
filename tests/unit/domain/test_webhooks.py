"""Webhook rules: which webhooks hear an event, retry backoff, secrets and signatures, URLs, CloudEvents."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta, timezone

import pytest

from shipshape.domain import cloudevents
from shipshape.domain.events import EventKind, RegistryEvent
from shipshape.domain.webhooks import (
    ALL_EVENTS,
    SECRET_PREFIX,
    Webhook,
    WebhookInvalid,
    derive_secret,
    matches,
    redact_url,
    retry_delay,
    signature,
    validate_url,
)

NOW = datetime(2026, 3, 1, 12, 0, 0, 250000, tzinfo=UTC)
KEY = bytes(range(32))


def event(kind: EventKind = EventKind.PUSH, **changes: object) -> RegistryEvent:
    values: dict[str, object] = {
        "kind": kind, "time": NOW, "account": "acme", "registry": "acme-dev", "repository": "acme-dev/web/api",
        "actor": "acme-dev+ci", "digest": "sha256:" + "a" * 64, "tag": "v1.2.3", "credential": "acme-dev+ci",
    }  # fmt: skip
    values.update(changes)
    return RegistryEvent(**values)  # type: ignore[arg-type]


def webhook(**changes: object) -> Webhook:
    values: dict[str, object] = {
        "id": "wh_1", "account": "acme", "url": "https://hooks.example/1", "events": ALL_EVENTS, "salt": "00",
        "created_at": NOW, "created_by": "alice",
    }  # fmt: skip
    values.update(changes)
    return Webhook(**values)  # type: ignore[arg-type]


# matching


def test_an_account_webhook_hears_every_registry_of_its_account() -> None:
    assert matches(webhook(), event(registry="acme-dev"))
    assert matches(webhook(), event(registry="acme-prod", repository="acme-prod/web/api"))


def test_a_registry_webhook_hears_only_its_registry() -> None:
    assert matches(webhook(registry="acme-dev"), event(registry="acme-dev"))
    assert not matches(webhook(registry="acme-dev"), event(registry="acme-prod"))


def test_a_webhook_never_hears_another_account_even_for_a_registry_of_the_same_name() -> None:
    assert not matches(webhook(account="globex"), event())
    assert not matches(webhook(account="globex", registry="acme-dev"), event())


def test_a_webhook_hears_only_the_kinds_it_subscribed_to() -> None:
    pushes_only = webhook(events=frozenset({EventKind.PUSH}))
    assert matches(pushes_only, event(EventKind.PUSH))
    assert not matches(pushes_only, event(EventKind.DELETE))
    assert not matches(pushes_only, event(EventKind.POLICY_REFUSAL))


# backoff


def test_retry_delay_doubles_from_the_base() -> None:
    base = timedelta(seconds=10)
    assert [retry_delay(n, base).total_seconds() for n in range(1, 6)] == [10, 20, 40, 80, 160]


def test_retry_delay_is_capped() -> None:
    cap = timedelta(hours=1)
    assert retry_delay(9, timedelta(seconds=10), cap) == timedelta(seconds=2560)
    assert retry_delay(10, timedelta(seconds=10), cap) == cap
    assert retry_delay(10_000, timedelta(seconds=10), cap) == cap


def test_retry_delay_takes_fractions_of_a_second() -> None:
    assert retry_delay(2, timedelta(seconds=0.2)) == timedelta(seconds=0.4)


def test_retry_delay_counts_attempts_from_one() -> None:
    with pytest.raises(ValueError, match="from 1"):
        retry_delay(0, timedelta(seconds=1))


# secrets and signatures


def test_the_secret_is_derived_from_the_key_the_id_and_the_salt() -> None:
    secret = derive_secret(KEY, "wh_1", "salt")
    assert secret.startswith(SECRET_PREFIX) and len(secret) == len(SECRET_PREFIX) + 43
    assert derive_secret(KEY, "wh_1", "salt") == secret
    assert derive_secret(KEY, "wh_2", "salt") != secret
    assert derive_secret(KEY, "wh_1", "pepper") != secret
    assert derive_secret(bytes(32), "wh_1", "salt") != secret


def test_the_signature_is_the_hex_hmac_sha256_of_the_body_under_the_secret() -> None:
    body = b'{"specversion":"1.0"}'
    expected = hmac.new(b"whsec_test", body, hashlib.sha256).hexdigest()
    assert signature("whsec_test", body) == f"sha256={expected}"
    assert signature("whsec_test", body + b" ") != signature("whsec_test", body)


# URLs


@pytest.mark.parametrize(
    "url",
    ["https://ci.example.com/hook", "http://127.0.0.1:8080/", "https://u:p@h.example/x?token=1#f", "http://[::1]:9/"],
)
def test_http_and_https_urls_are_accepted(url: str) -> None:
    assert validate_url(url) == url


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://files.example/hook", "http:// or https://"),
        ("HTTPS://example.com/", "http:// or https://"),
        ("https://exa mple.com/", "http:// or https://"),
        ("https://example.com/\x00", "http:// or https://"),
        ("https://bücher.example/", "printable ASCII"),
        ("hook.example.com/path", "http:// or https://"),
        ("https://:443/", "names no host"),
        ("https://example.com:99999/", "port is malformed"),
        ("https://example.com:0/", "port is 0"),
        ("https://example.com/" + "a" * 2048, "at most 2048"),
    ],
)
def test_other_urls_are_refused_with_the_fix(url: str, message: str) -> None:
    with pytest.raises(WebhookInvalid, match=message.replace("?", r"\?")):
        validate_url(url)


def test_redacted_urls_lose_credentials_query_and_fragment() -> None:
    assert redact_url("https://user:pw@hooks.example:8443/p/a?token=s3cret#x") == "https://hooks.example:8443/p/a"
    assert redact_url("http://[::1]/hook") == "http://[::1]/hook"


# CloudEvents


def test_a_push_becomes_a_structured_cloudevent() -> None:
    document = cloudevents.cloud_event(event(detail={"rule": "immutable"}), "e-1")
    assert document == {
        "specversion": "1.0",
        "id": "e-1",
        "source": "/registries/acme-dev",
        "type": "dev.shipshape.image.pushed",
        "subject": "acme-dev/web/api:v1.2.3",
        "time": "2026-03-01T12:00:00.250000Z",
        "datacontenttype": "application/json",
        "data": {
            "account": "acme", "registry": "acme-dev", "repository": "acme-dev/web/api",
            "digest": "sha256:" + "a" * 64, "tag": "v1.2.3", "actor": "acme-dev+ci", "credential": "acme-dev+ci",
            "detail": {"rule": "immutable"},
        },
    }  # fmt: skip


@pytest.mark.parametrize(
    ("kind", "type_"),
    [
        (EventKind.PUSH, "dev.shipshape.image.pushed"),
        (EventKind.DELETE, "dev.shipshape.image.deleted"),
        (EventKind.PROMOTION, "dev.shipshape.image.promoted"),
        (EventKind.POLICY_REFUSAL, "dev.shipshape.policy.refused"),
    ],
)
def test_every_event_kind_has_its_type(kind: EventKind, type_: str) -> None:
    assert cloudevents.cloud_event(event(kind), "e")["type"] == type_


def test_the_subject_names_the_tag_else_the_digest_else_the_repository() -> None:
    assert cloudevents.subject(event()) == "acme-dev/web/api:v1.2.3"
    assert cloudevents.subject(event(tag=None)) == "acme-dev/web/api@sha256:" + "a" * 64
    assert cloudevents.subject(event(tag=None, digest=None)) == "acme-dev/web/api"


def test_event_times_are_written_in_utc() -> None:
    tokyo = NOW.astimezone(timezone(timedelta(hours=9)))
    assert cloudevents.cloud_event(event(time=tokyo), "e")["time"] == "2026-03-01T12:00:00.250000Z"


def test_the_body_is_compact_json_that_reads_back_equal() -> None:
    document = cloudevents.cloud_event(event(actor="zoë"), "e")
    body = cloudevents.encode(document)
    assert json.loads(body) == document
    assert ", " not in body and "zoë" in body
