import base64
import json
import os
import stat
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jwt
import pytest

from shipshape.auth.tokens import (
    KEY_FILE_NAME,
    GrantedAccess,
    RequestedAccess,
    TokenIssuer,
    bearer_challenge,
    challenge_scope,
    load_or_create_key,
    parse_scope,
)
from shipshape.domain.errors import ScopeInvalid, Unauthorized

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
SERVICE = "registry.example.com:5000"
PUSH_PULL = GrantedAccess(type="repository", name="acme-prod/web/api", actions=["pull", "push"])


@pytest.fixture
def issuer(tmp_path: Path) -> TokenIssuer:
    return TokenIssuer(tmp_path)


def claims_of(token: str) -> dict[str, object]:
    payload: dict[str, object] = jwt.decode(token, options={"verify_signature": False})
    return payload


def b64(data: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


# The signing key


def test_key_file_is_created_with_mode_0600(tmp_path: Path) -> None:
    TokenIssuer(tmp_path)
    key_file = tmp_path / KEY_FILE_NAME
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert len(key_file.read_bytes()) == 32


def test_key_directory_is_created_if_missing(tmp_path: Path) -> None:
    TokenIssuer(tmp_path / "data" / "auth")
    assert (tmp_path / "data" / "auth" / KEY_FILE_NAME).exists()


def test_key_file_is_reused_by_the_next_start(tmp_path: Path) -> None:
    token = TokenIssuer(tmp_path).issue("ci", [PUSH_PULL], SERVICE, NOW)
    key = (tmp_path / KEY_FILE_NAME).read_bytes()
    assert TokenIssuer(tmp_path).verify(token, SERVICE, NOW).subject == "ci"
    assert (tmp_path / KEY_FILE_NAME).read_bytes() == key


def test_processes_starting_at_once_agree_on_one_key(tmp_path: Path) -> None:
    barrier = threading.Barrier(8)
    keys: list[bytes] = []

    def start() -> None:
        barrier.wait()
        keys.append(load_or_create_key(tmp_path / KEY_FILE_NAME))

    threads = [threading.Thread(target=start) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(keys) == 8
    assert set(keys) == {(tmp_path / KEY_FILE_NAME).read_bytes()}
    assert os.listdir(tmp_path) == [KEY_FILE_NAME]  # no temporary files left behind


def test_key_file_readable_by_others_is_refused(tmp_path: Path) -> None:
    TokenIssuer(tmp_path)
    (tmp_path / KEY_FILE_NAME).chmod(0o644)
    with pytest.raises(PermissionError, match="chmod 600"):
        TokenIssuer(tmp_path)


def test_truncated_key_file_is_refused(tmp_path: Path) -> None:
    key_file = tmp_path / KEY_FILE_NAME
    key_file.write_bytes(b"short")
    key_file.chmod(0o600)
    with pytest.raises(ValueError, match="is 5 bytes, not 32"):
        TokenIssuer(tmp_path)


# Issuing and verifying


def test_token_round_trip_gives_subject_and_access(issuer: TokenIssuer) -> None:
    verified = issuer.verify(issuer.issue("acme-prod+ci", [PUSH_PULL], SERVICE, NOW), SERVICE, NOW)
    assert verified.subject == "acme-prod+ci"
    assert verified.access == (PUSH_PULL,)


def test_token_carries_the_docker_claims(issuer: TokenIssuer) -> None:
    claims = claims_of(issuer.issue("acme-prod+ci", [PUSH_PULL], SERVICE, NOW))
    issued_at = int(NOW.timestamp())
    assert claims["iss"] == "shipshape"
    assert claims["sub"] == "acme-prod+ci"
    assert claims["aud"] == SERVICE
    assert (claims["iat"], claims["nbf"], claims["exp"]) == (issued_at, issued_at, issued_at + 300)
    assert claims["access"] == [{"type": "repository", "name": "acme-prod/web/api", "actions": ["pull", "push"]}]


def test_token_ids_are_unique(issuer: TokenIssuer) -> None:
    assert (
        claims_of(issuer.issue("ci", [], SERVICE, NOW))["jti"] != claims_of(issuer.issue("ci", [], SERVICE, NOW))["jti"]
    )


def test_token_header_names_algorithm_and_key(issuer: TokenIssuer) -> None:
    header = jwt.get_unverified_header(issuer.issue("ci", [], SERVICE, NOW))
    assert header["alg"] == "HS256"
    assert header["kid"] == issuer.key_id


def test_token_with_no_access_is_valid(issuer: TokenIssuer) -> None:
    assert issuer.verify(issuer.issue("ci", [], SERVICE, NOW), SERVICE, NOW).access == ()


def test_actions_for_lists_what_the_token_grants_on_a_repository(issuer: TokenIssuer) -> None:
    verified = issuer.verify(issuer.issue("ci", [PUSH_PULL], SERVICE, NOW), SERVICE, NOW)
    assert verified.actions_for("acme-prod/web/api") == {"pull", "push"}
    assert verified.actions_for("acme-prod/web/other") == frozenset()


def test_token_works_until_just_before_it_expires(issuer: TokenIssuer) -> None:
    token = issuer.issue("ci", [PUSH_PULL], SERVICE, NOW, lifetime=timedelta(minutes=5))
    issuer.verify(token, SERVICE, NOW + timedelta(minutes=4, seconds=59))


def test_expired_token_is_refused(issuer: TokenIssuer) -> None:
    token = issuer.issue("ci", [PUSH_PULL], SERVICE, NOW)
    with pytest.raises(Unauthorized, match="token expired at 2026-03-01T12:05:00"):
        issuer.verify(token, SERVICE, NOW + timedelta(minutes=5))


def test_token_from_the_future_is_refused(issuer: TokenIssuer) -> None:
    token = issuer.issue("ci", [PUSH_PULL], SERVICE, NOW)
    with pytest.raises(Unauthorized, match="not valid yet"):
        issuer.verify(token, SERVICE, NOW - timedelta(minutes=1))


def test_token_from_a_slightly_fast_clock_is_accepted(issuer: TokenIssuer) -> None:
    issuer.verify(issuer.issue("ci", [PUSH_PULL], SERVICE, NOW), SERVICE, NOW - timedelta(seconds=10))


def test_token_for_another_service_is_refused(issuer: TokenIssuer) -> None:
    token = issuer.issue("ci", [PUSH_PULL], "other.example.com", NOW)
    with pytest.raises(Unauthorized, match="issued for another service"):
        issuer.verify(token, SERVICE, NOW)


def test_tampered_token_is_refused(issuer: TokenIssuer) -> None:
    header, _, signature = issuer.issue("ci", [PUSH_PULL], SERVICE, NOW).split(".")
    claims = claims_of(issuer.issue("ci", [PUSH_PULL], SERVICE, NOW))
    claims["access"] = [{"type": "repository", "name": "acme-prod/web/api", "actions": ["pull", "push", "delete"]}]
    with pytest.raises(Unauthorized, match="signature is invalid"):
        issuer.verify(f"{header}.{b64(claims)}.{signature}", SERVICE, NOW)


def test_token_signed_by_another_deployment_is_refused(issuer: TokenIssuer, tmp_path: Path) -> None:
    other = TokenIssuer(tmp_path / "other")
    with pytest.raises(Unauthorized, match="signature is invalid"):
        issuer.verify(other.issue("ci", [PUSH_PULL], SERVICE, NOW), SERVICE, NOW)


def test_unsigned_token_is_refused(issuer: TokenIssuer) -> None:
    claims = claims_of(issuer.issue("ci", [PUSH_PULL], SERVICE, NOW))
    with pytest.raises(Unauthorized, match="malformed"):
        issuer.verify(f"{b64({'alg': 'none', 'typ': 'JWT'})}.{b64(claims)}.", SERVICE, NOW)


@pytest.mark.parametrize("token", ["", "not-a-token", "a.b.c", "Bearer x.y.z"])
def test_malformed_token_is_refused(issuer: TokenIssuer, token: str) -> None:
    with pytest.raises(Unauthorized, match="malformed"):
        issuer.verify(token, SERVICE, NOW)


@pytest.mark.parametrize("claim", ["jti", "access", "exp", "nbf"])
def test_token_missing_a_claim_is_refused(tmp_path: Path, claim: str) -> None:
    issuer = TokenIssuer(tmp_path)
    claims = claims_of(issuer.issue("ci", [PUSH_PULL], SERVICE, NOW))
    del claims[claim]
    forged = jwt.encode(claims, (tmp_path / KEY_FILE_NAME).read_bytes(), algorithm="HS256")
    with pytest.raises(Unauthorized, match="malformed"):
        issuer.verify(forged, SERVICE, NOW)


@pytest.mark.parametrize("access", ["repository:acme-prod/web/api:pull", [{"type": "repository"}], [["pull"]]])
def test_token_with_a_malformed_access_claim_is_refused(tmp_path: Path, access: object) -> None:
    issuer = TokenIssuer(tmp_path)
    claims = claims_of(issuer.issue("ci", [], SERVICE, NOW))
    claims["access"] = access
    forged = jwt.encode(claims, (tmp_path / KEY_FILE_NAME).read_bytes(), algorithm="HS256")
    with pytest.raises(Unauthorized, match="malformed"):
        issuer.verify(forged, SERVICE, NOW)


def test_naive_time_is_refused(issuer: TokenIssuer) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        issuer.issue("ci", [], SERVICE, datetime(2026, 3, 1, 12, 0))


# Scopes


def test_scope_parses_type_name_and_actions() -> None:
    assert parse_scope("repository:acme-prod/web/api:pull,push") == [
        RequestedAccess("repository", "acme-prod/web/api", ("pull", "push"))
    ]


def test_space_separated_scopes_are_all_parsed() -> None:
    assert parse_scope("repository:acme-prod/web/api:pull repository:acme-dev/web/api:push") == [
        RequestedAccess("repository", "acme-prod/web/api", ("pull",)),
        RequestedAccess("repository", "acme-dev/web/api", ("push",)),
    ]


def test_repeated_scope_parameters_are_all_parsed() -> None:
    assert parse_scope(["repository:a/b:pull", "registry:catalog:*"]) == [
        RequestedAccess("repository", "a/b", ("pull",)),
        RequestedAccess("registry", "catalog", ("*",)),
    ]


def test_repeated_resource_merges_its_actions() -> None:
    assert parse_scope(["repository:a/b:pull", "repository:a/b:push,pull"]) == [
        RequestedAccess("repository", "a/b", ("pull", "push"))
    ]


def test_catalog_scope_is_parsed() -> None:
    assert parse_scope("registry:catalog:*") == [RequestedAccess("registry", "catalog", ("*",))]


def test_resource_type_may_carry_a_class() -> None:
    assert parse_scope("repository(plugin):a/b:pull") == [RequestedAccess("repository(plugin)", "a/b", ("pull",))]


def test_missing_or_empty_scope_asks_for_nothing() -> None:
    assert parse_scope("") == []
    assert parse_scope([]) == []


@pytest.mark.parametrize(
    "scope",
    [
        "repository",
        "repository:a/b",
        "repository:a/b:",
        "repository::pull",
        ":a/b:pull",
        "Repository:a/b:pull",
        "repository:A/b:pull",
        "repository:a//b:pull",
        "repository:a/b:pull,,push",
        "repository:a/b:PULL",
        "repository:a/b:pull;rm",
        'registry:cat"alog:*',
    ],
)
def test_malformed_scope_is_refused(scope: str) -> None:
    with pytest.raises(ScopeInvalid, match="invalid scope"):
        parse_scope(scope)


def test_malformed_scope_error_shows_an_example() -> None:
    with pytest.raises(ScopeInvalid, match=r"e\.g\. repository:acme-prod/web/api:pull,push"):
        parse_scope("repository")


def test_challenge_scope_formats_one_resource() -> None:
    assert challenge_scope("acme-prod/web/api", ["pull", "push"]) == "repository:acme-prod/web/api:pull,push"


def test_challenge_scope_formats_the_catalog() -> None:
    assert challenge_scope("catalog", ["*"], resource_type="registry") == "registry:catalog:*"


def test_challenge_scope_round_trips_through_parse_scope() -> None:
    assert parse_scope(challenge_scope("a/b", ["pull"])) == [RequestedAccess("repository", "a/b", ("pull",))]


def test_bearer_challenge_quotes_realm_service_and_scope() -> None:
    header = bearer_challenge("https://r.example/auth/token", SERVICE, challenge_scope("a/b", ["pull"]))
    assert header == (
        'Bearer realm="https://r.example/auth/token",service="registry.example.com:5000",scope="repository:a/b:pull"'
    )


def test_bearer_challenge_without_scope_leaves_it_out() -> None:
    assert bearer_challenge("https://r.example/auth/token", SERVICE) == (
        'Bearer realm="https://r.example/auth/token",service="registry.example.com:5000"'
    )
