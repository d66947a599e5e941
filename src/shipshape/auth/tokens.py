"""Docker registry bearer tokens: the signing key, issuing and verifying JWTs, and the `scope` grammar.

Tokens are HS256 JWTs signed with a 32-byte random key kept in the data dir. The only party that verifies a token
is the party that issued it: every server process of one deployment shares the data dir, hence the key, and no
outside service checks our tokens. So a symmetric key is sound, and it is one small file, quick to verify on every
request, with no `cryptography` dependency. ES256 would pay off only if something that must not be able to *issue*
tokens (a separate token server, a third-party verifier) had to verify them.

The claims follow the Docker token specification (https://distribution.github.io/distribution/spec/auth/jwt/):
`iss`, `sub`, `aud` (the service), `iat`, `nbf`, `exp`, `jti` and `access` (a list of `{type, name, actions}`).
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jwt

from shipshape.auth import key_files
from shipshape.domain.errors import NameInvalid, ScopeInvalid, Unauthorized
from shipshape.domain.names import validate_name

KEY_FILE_NAME = "token-signing.key"
ALGORITHM = "HS256"
DEFAULT_ISSUER = "shipshape"
DEFAULT_TOKEN_LIFETIME = timedelta(minutes=5)
# A token issued by a process whose clock is slightly ahead is still accepted by the others (`nbf` only: a token
# is never accepted after its `exp`).
CLOCK_SKEW = timedelta(seconds=30)

_RESOURCE_TYPE = re.compile(r"([a-z0-9]+)(?:\([a-z0-9]+\))?")
_RESOURCE_NAME = re.compile(r"[A-Za-z0-9._/:-]+")  # names of non-repository resources, such as `catalog`
_ACTION = re.compile(r"[a-z]+|\*")
_SCOPE_EXAMPLE = "use type:name:actions, e.g. repository:acme-prod/web/api:pull,push or registry:catalog:*"
_REQUIRED_CLAIMS = ["iss", "sub", "aud", "iat", "nbf", "exp", "jti", "access"]


@dataclass(frozen=True, slots=True)
class RequestedAccess:
    """One resource scope a client asks for, e.g. `repository:acme-prod/web/api:pull,push`."""

    type: str
    name: str
    actions: Sequence[str]  # stored as a tuple, so equal scopes compare equal however they were built

    def __post_init__(self) -> None:
        object.__setattr__(self, "actions", tuple(self.actions))

    def __str__(self) -> str:
        return f"{self.type}:{self.name}:{','.join(self.actions)}"


@dataclass(frozen=True, slots=True)
class GrantedAccess:
    """One entry of a token's `access` claim: the actions granted on one resource."""

    type: str
    name: str
    actions: Sequence[str]  # stored as a tuple

    def __post_init__(self) -> None:
        object.__setattr__(self, "actions", tuple(self.actions))


@dataclass(frozen=True, slots=True)
class VerifiedToken:
    """What a valid token says: who it was issued to and what it grants."""

    subject: str
    access: tuple[GrantedAccess, ...]
    expires: float = float("inf")  # POSIX time of the `exp` claim
    secret_id: str | None = None  # which of the subject's secrets it was issued for (see `TokenIssuer.issue`)

    def actions_for(self, name: str, resource_type: str = "repository") -> frozenset[str]:
        """The actions this token grants on resource `name` (a repository path unless `resource_type` says else)."""
        return frozenset(
            action
            for grant in self.access
            if grant.type == resource_type and grant.name == name
            for action in grant.actions
        )


def _require_aware(now: datetime) -> None:
    """Refuse a naive datetime, which `timestamp()` would read as local time."""
    if now.tzinfo is None:
        raise ValueError("`now` must be timezone-aware (UTC)")


def load_or_create_key(path: Path) -> bytes:
    """The signing key in `path`, created (0600, 32 random bytes) if missing."""
    return key_files.load_or_create_key(
        path, "token signing key", "tokens signed with the old key stop working; clients fetch new ones"
    )


class TokenIssuer:
    """Issues and verifies the bearer tokens of one deployment, with the key kept in `key_directory`."""

    def __init__(self, key_directory: Path, issuer: str = DEFAULT_ISSUER) -> None:
        self.key_path = key_directory / KEY_FILE_NAME
        self.issuer = issuer
        self._key = load_or_create_key(self.key_path)
        # Names the key in each token's header, so a future key rotation can tell old tokens from new.
        self.key_id = hashlib.sha256(self._key).hexdigest()[:16]

    def issue(
        self,
        subject: str,
        access: Sequence[GrantedAccess],
        service: str,
        now: datetime,
        lifetime: timedelta = DEFAULT_TOKEN_LIFETIME,
        secret_id: str | None = None,
    ) -> str:
        """A signed token for `subject` granting `access` on `service`, valid from `now` for `lifetime`.

        `secret_id` (a prefix of the SHA-256 of the secret the subject logged in with) ties the token to that
        secret, so that resetting it ends the token too.
        """
        _require_aware(now)
        if lifetime <= timedelta(0):
            raise ValueError("a token lifetime must be positive")
        issued_at = int(now.timestamp())
        claims = {
            "iss": self.issuer,
            "sub": subject,
            "aud": service,
            "iat": issued_at,
            "nbf": issued_at,
            "exp": issued_at + int(lifetime.total_seconds()),
            "jti": secrets.token_urlsafe(16),
            "access": [{"type": a.type, "name": a.name, "actions": list(a.actions)} for a in access],
        }
        if secret_id is not None:
            claims["sid"] = secret_id
        return jwt.encode(claims, self._key, algorithm=ALGORITHM, headers={"kid": self.key_id})

    def verify(self, token: str, service: str, now: datetime) -> VerifiedToken:
        """What `token` grants; `Unauthorized` if it is forged, malformed, expired or not for `service`."""
        _require_aware(now)
        try:
            claims = jwt.decode(
                token,
                self._key,
                algorithms=[ALGORITHM],
                audience=service,
                issuer=self.issuer,
                # The time claims are checked below against `now`, not against PyJWT's wall clock.
                options={"require": _REQUIRED_CLAIMS, "verify_exp": False, "verify_nbf": False, "verify_iat": False},
            )
        except jwt.InvalidAudienceError:
            raise Unauthorized(
                f"token was issued for another service, not {service!r}: request a new one from this registry"
            ) from None
        except jwt.InvalidSignatureError:
            raise Unauthorized("token signature is invalid: request a new token") from None
        except (jwt.InvalidTokenError, UnicodeError):  # UnicodeError: bytes that are not text at all
            raise Unauthorized("token is malformed: request a new token") from None
        subject, not_before, expires = claims["sub"], claims["nbf"], claims["exp"]
        if not (isinstance(subject, str) and _is_int(not_before) and _is_int(expires) and _is_int(claims["iat"])):
            raise Unauthorized("token is malformed: request a new token")
        timestamp = now.timestamp()
        if timestamp >= expires:
            expired_at = datetime.fromtimestamp(expires, UTC).isoformat()
            raise Unauthorized(f"token expired at {expired_at}: request a new token")
        if timestamp + CLOCK_SKEW.total_seconds() < not_before:
            raise Unauthorized("token is not valid yet: check that the registry servers' clocks agree")
        secret_id = claims.get("sid")
        if secret_id is not None and not isinstance(secret_id, str):
            raise Unauthorized("token is malformed: request a new token")
        return VerifiedToken(
            subject=subject, access=_parse_access_claim(claims["access"]), expires=float(expires), secret_id=secret_id
        )


def _is_int(value: object) -> bool:
    """Whether a claim value is a JSON integer (not a boolean)."""
    return isinstance(value, int) and not isinstance(value, bool)


def _parse_access_claim(claim: object) -> tuple[GrantedAccess, ...]:
    """The `access` claim as `GrantedAccess` entries, or `Unauthorized` if it is not a list of {type, name, actions}."""
    malformed = Unauthorized("token is malformed: request a new token")
    if not isinstance(claim, list):
        raise malformed
    granted: list[GrantedAccess] = []
    for entry in claim:
        if not isinstance(entry, dict):
            raise malformed
        type_, name, actions = entry.get("type"), entry.get("name"), entry.get("actions")
        if not (isinstance(type_, str) and isinstance(name, str) and isinstance(actions, list)):
            raise malformed
        if not all(isinstance(action, str) for action in actions):
            raise malformed
        granted.append(GrantedAccess(type_, name, tuple(actions)))
    return tuple(granted)


def _parse_one_scope(text: str) -> RequestedAccess:
    """Parse one `type:name:action[,action…]`; the name may itself contain `:` (a registry host's port)."""
    shown = text if len(text) <= 200 else text[:200] + "…"
    type_, _, rest = text.partition(":")
    name, colon, actions_text = rest.rpartition(":")
    if not colon or not name:
        raise ScopeInvalid(f"invalid scope {shown!r}: {_SCOPE_EXAMPLE}")
    type_match = _RESOURCE_TYPE.fullmatch(type_)
    if not type_match:
        raise ScopeInvalid(f"invalid scope {shown!r}: the resource type must be lowercase letters and digits")
    if type_match.group(1) == "repository":
        try:
            validate_name(name)
        except NameInvalid as error:
            raise ScopeInvalid(f"invalid scope {shown!r}: {error.message}") from None
    elif not _RESOURCE_NAME.fullmatch(name):
        raise ScopeInvalid(f"invalid scope {shown!r}: {_SCOPE_EXAMPLE}")
    actions = actions_text.split(",")
    if not all(_ACTION.fullmatch(action) for action in actions):
        raise ScopeInvalid(
            f"invalid scope {shown!r}: actions must be a comma-separated list such as pull,push (or * for all)"
        )
    return RequestedAccess(type_, name, tuple(dict.fromkeys(actions)))


def parse_scope(text: str | Iterable[str]) -> list[RequestedAccess]:
    """Parse a token request's `scope` (one value or each repeated value; scopes space-separated), merging repeats."""
    values = [text] if isinstance(text, str) else list(text)
    merged: dict[tuple[str, str], dict[str, None]] = {}
    for value in values:
        for item in value.split(" "):
            if not item:
                continue
            requested = _parse_one_scope(item)
            merged.setdefault((requested.type, requested.name), {}).update(dict.fromkeys(requested.actions))
    return [RequestedAccess(type_, name, tuple(actions)) for (type_, name), actions in merged.items()]


def _quoted(value: str) -> str:
    """`value` as an HTTP quoted-string."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def challenge_scope(name: str, actions: Iterable[str], resource_type: str = "repository") -> str:
    """The value of a Bearer challenge's `scope="…"` for `actions` on `name`, e.g. `repository:acme/web:pull,push`."""
    return str(RequestedAccess(resource_type, name, tuple(dict.fromkeys(actions))))


def bearer_challenge(realm: str, service: str, scope: str | None = None) -> str:
    """A whole `WWW-Authenticate` value: `Bearer realm="…",service="…"[,scope="…"]`, each value quoted."""
    parameters = [f"realm={_quoted(realm)}", f"service={_quoted(service)}"]
    if scope:
        parameters.append(f"scope={_quoted(scope)}")
    return "Bearer " + ",".join(parameters)
