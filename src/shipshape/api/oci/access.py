"""Authentication and authorisation of every `/v2/` request, and the Docker token endpoint (`/auth/token`).

The middleware finds the caller (Basic credentials, a bearer token, or nobody), works out which action the
route needs on which repository, and refuses with the spec's answer: 401 with a `WWW-Authenticate` challenge
when the caller must (re)authenticate, `DENIED` when an authenticated caller may not do it.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from aiohttp import web
from aiohttp.typedefs import Handler

from shipshape.api.oci.admissions import Admissions
from shipshape.auth.tokens import (
    GrantedAccess,
    TokenIssuer,
    VerifiedToken,
    bearer_challenge,
    challenge_scope,
    parse_scope,
)
from shipshape.domain.access import Action, Anonymous, AuditEvent, Credential, Member, Principal
from shipshape.domain.errors import Denied, PolicyRefused, ScopeInvalid, Unauthorized
from shipshape.domain.secrets import secret_sha256
from shipshape.ports import AccessStore, Clock
from shipshape.services.authentication import Authenticator
from shipshape.services.authorization import Authorizer
from shipshape.services.policies import ANONYMOUS, actor_name, credential_name

TOKEN_LIFETIME_SECONDS = 300
MAX_CACHED_TOKENS = 10_000
MAX_SCOPES_PER_TOKEN = 50  # docker asks for two (target and mount source); each costs a lookup
SECRET_ID_LENGTH = 16  # hex characters of the secret's SHA-256 carried in a token: enough to tell secrets apart
SERVICE = "shipshape"
MAX_REFERENCE = 200  # characters of a path's reference kept in an audit entry (tags have at most 128)
# Tokens issued to callers who sent no credentials have the subject ANONYMOUS.

# The action each route needs on the repository in its URL. Routes not listed need only a known caller.
ROUTE_ACTIONS: dict[str, Action] = {
    "manifest_get": Action.PULL,
    "manifest_put": Action.PUSH,
    "manifest_delete": Action.DELETE,
    "tags": Action.PULL,
    "referrers": Action.PULL,
    "blob_get": Action.PULL,
    "blob_head": Action.PULL,
    "blob_delete": Action.DELETE,
    "upload_start": Action.PUSH,
    "upload_patch": Action.PUSH,
    "upload_finish": Action.PUSH,
    "upload_status": Action.PUSH,
    "upload_cancel": Action.PUSH,
}
# Writes that leave a line in the audit trail.
AUDITED_ROUTES = {"manifest_put": "manifest.push", "manifest_delete": "manifest.delete", "blob_delete": "blob.delete"}


@dataclass(frozen=True, slots=True)
class Caller:
    """Who sent a request: a principal proven by Basic credentials, or the holder of a bearer token."""

    principal: Principal
    token: VerifiedToken | None = None
    secret_id: str | None = None  # for a credential's Basic login: which secret it used (see TokenIssuer.issue)

    @property
    def name(self) -> str:
        return actor_name(self.principal)


NOBODY = Caller(Anonymous())  # every unauthenticated caller: one frozen value, not two objects per request


@dataclass(frozen=True, slots=True)
class AccessControl:
    authenticator: Authenticator
    authorizer: Authorizer
    tokens: TokenIssuer
    store: AccessStore
    clock: Clock
    public_url: str | None
    admissions: Admissions[Caller] | None = None

    verified_tokens: dict[str, VerifiedToken] = field(default_factory=dict)

    def _verified(self, token: str) -> VerifiedToken:
        """Verify a bearer token once: clients send the same token on every request until it expires."""
        now = self.clock.now()
        known = self.verified_tokens.get(token)
        if known is not None and now.timestamp() < known.expires:
            return known
        verified = self.tokens.verify(token, SERVICE, now)
        if len(self.verified_tokens) >= MAX_CACHED_TOKENS:
            self.verified_tokens.clear()  # crude but bounded; tokens live minutes, a refill is cheap
        self.verified_tokens[token] = verified
        return verified

    def realm(self, request: web.Request) -> str:
        base = self.public_url or f"{request.scheme}://{request.host}"
        return f"{base.rstrip('/')}/auth/token"

    async def caller(self, request: web.Request) -> Caller:
        header = request.headers.get("Authorization", "")
        scheme, _, value = header.partition(" ")
        if scheme.lower() == "basic":
            return await self._basic_caller(value, request.remote)
        if scheme.lower() == "bearer":
            return await self._bearer_caller(value.strip())
        if header:
            raise Unauthorized("unsupported Authorization scheme: use Basic or Bearer")
        return NOBODY

    async def _basic_caller(self, value: str, remote: str | None) -> Caller:
        username, secret = _basic(value)
        principal = await self.authenticator.basic(username, secret, remote)
        if isinstance(principal, Credential):
            return Caller(principal, secret_id=secret_sha256(secret)[:SECRET_ID_LENGTH])
        return Caller(principal, secret_id=principal.password_id)

    async def _bearer_caller(self, value: str) -> Caller:
        token = self._verified(value)
        if token.subject == ANONYMOUS:
            return Caller(Anonymous(), token)
        principal = await self.authenticator.principal(token.subject)
        if principal is None:
            raise Unauthorized("the token's owner no longer exists: log in again")
        if isinstance(principal, Credential) and not _still_valid(principal, token.secret_id, self.clock.now()):
            raise Unauthorized("the secret this token was issued for was reset or has expired: log in again")
        if isinstance(principal, Member) and token.secret_id != principal.password_id:
            raise Unauthorized("the password changed since this token was issued: log in again")
        return Caller(principal, token)

    async def admit(self, request: web.Request, path: str, action: Action) -> Caller:
        """The caller of `request`, once it may take `action` on `path`; raises `Unauthorized` or `Denied`."""
        if self.admissions is None:
            caller = await self.caller(request)
            request[CALLER] = caller
            await self.check(caller, path, action)
            return caller
        key = self.admissions.key(request.headers.get("Authorization", ""), path, action)
        now, stamp = self.clock.now(), self.admissions.stamp()
        admitted = self.admissions.get(key, now, stamp)
        if admitted is not None:
            return admitted
        caller = await self.caller(request)
        request[CALLER] = caller  # for the audit trail's entry if the check refuses
        await self.check(caller, path, action)
        self.admissions.remember(key, caller, now, stamp, _expiry(caller))
        return caller

    async def check(self, caller: Caller, path: str, action: Action) -> None:
        """Raise unless `caller` may take `action` on `path`."""
        if caller.token is not None:
            # What the token grants, as far as its owner may still do it: a right taken away since it was
            # issued (a narrower role or scope, a registry no longer public) ends with it.
            allowed = await self.authorizer.actions(caller.principal, path)
            if action in caller.token.actions_for(path) and action in allowed:
                return
            if action in allowed:
                # Allowed, but this token was not issued for it: the client must fetch one that is.
                raise Unauthorized(f"token does not grant {action} on {path}: request a token with that scope")
        await self.authorizer.require(caller.principal, path, action)

    async def may_pull(self, caller: Caller, path: str) -> bool:
        """Whether the caller's principal may pull `path` (for mounts and the catalog; a token need not name it)."""
        return Action.PULL in await self.authorizer.actions(caller.principal, path)


ACCESS = web.AppKey("access_control", AccessControl)
CALLER = web.RequestKey("caller", Caller)
# Set when the handler had the request's success recorded with its change (see `audit_of_success`).
AUDITED = web.RequestKey("audited", bool)


def caller_of(request: web.Request) -> Caller:
    """Who sent `request`, as `oci_access` found (anonymous when access control is off)."""
    try:
        return request[CALLER]  # a Request's get() and `in` would raise and catch a KeyError when unset
    except KeyError:
        return NOBODY


def pull_check(request: web.Request) -> Callable[[str], Awaitable[bool]]:
    """Whether this request's caller may pull a repository (everyone may when access control is off)."""
    access, caller = request.app.get(ACCESS), caller_of(request)

    async def may_pull(path: str) -> bool:
        return access is None or await access.may_pull(caller, path)

    return may_pull


@web.middleware
async def oci_access(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Authenticate `/v2/` requests and enforce the route's action; challenge or refuse otherwise."""
    access = request.app.get(ACCESS)
    if access is None or not request.path.startswith("/v2"):
        request[CALLER] = NOBODY  # set, so that caller_of() (on every manifest GET) need not catch a KeyError
        return await handler(request)
    route = request.match_info.route.name or ""
    path = request.match_info.get("name")
    action = ROUTE_ACTIONS.get(route)
    try:
        if path is not None and action is not None:
            caller = await access.admit(request, path, action)
        else:
            caller = await access.caller(request)
            if isinstance(caller.principal, Anonymous) and caller.token is None:
                raise Unauthorized("authentication required: log in with a member or credential")
    except Unauthorized as error:
        return _challenge(request, access, error, path, action)
    except Denied as error:
        if route in AUDITED_ROUTES and path is not None:
            await _audit(access, request, caller_of(request), route, path, "denied")
        raise error from None
    request[CALLER] = caller
    try:
        response = await handler(request)
    except PolicyRefused as refusal:
        if route in AUDITED_ROUTES and path is not None:
            await _audit(access, request, caller, route, path, "denied", {"rule": refusal.rule})
        raise
    if route in AUDITED_ROUTES and path is not None and response.status < 300 and not request.get(AUDITED, False):
        await _audit(access, request, caller, route, path, "success")
    return response


async def token_endpoint(request: web.Request) -> web.Response:
    """The Docker token flow: Basic credentials (or none, for public pulls) in, a signed JWT with the granted
    subset of the requested scopes out."""
    access = request.app[ACCESS]
    try:
        caller = await access.caller(request)
        if caller.token is not None:  # a token must not mint another: that would outlive every reset
            raise Unauthorized("the token endpoint takes Basic credentials (or none, for public pulls)")
    except Unauthorized as error:
        return _challenge(request, access, error, None, None)
    granted: list[GrantedAccess] = []
    scopes = parse_scope(request.query.getall("scope", []))
    if len(scopes) > MAX_SCOPES_PER_TOKEN:
        raise ScopeInvalid(f"{len(scopes)} scopes in one token request; the limit is {MAX_SCOPES_PER_TOKEN}")
    for requested in scopes:
        if requested.type != "repository":
            continue
        allowed = await access.authorizer.actions(caller.principal, requested.name)
        # `*` asks for everything the caller may do (containers/image asks for it to delete).
        wanted = allowed if "*" in requested.actions else requested.actions
        actions = sorted(a for a in wanted if a in allowed)
        granted.append(GrantedAccess(type="repository", name=requested.name, actions=actions))
    now = access.clock.now()
    token = access.tokens.issue(caller.name, granted, SERVICE, now, secret_id=caller.secret_id)
    body = {"token": token, "access_token": token, "expires_in": TOKEN_LIFETIME_SECONDS, "issued_at": now.isoformat()}
    return web.json_response(body)


def _expiry(caller: Caller) -> datetime | None:
    """When what admitted `caller` ends by itself: its token's or its credential's expiry."""
    if caller.token is not None and caller.token.expires != float("inf"):
        return datetime.fromtimestamp(caller.token.expires, UTC)
    if isinstance(caller.principal, Credential):
        return caller.principal.expires_at
    return None


def _challenge(
    request: web.Request, access: AccessControl, error: Unauthorized, path: str | None, action: Action | None
) -> web.Response:
    from shipshape.api.errors import error_response

    scope = challenge_scope(path, [action]) if path is not None and action is not None else None
    response = error_response("UNAUTHORIZED", 401, error.message)
    response.headers["WWW-Authenticate"] = bearer_challenge(access.realm(request), SERVICE, scope)
    return response


async def _audit(
    access: AccessControl,
    request: web.Request,
    caller: Caller,
    route: str,
    path: str,
    result: str,
    detail: dict[str, str] | None = None,
) -> None:
    await access.store.record_audit(await _audit_event(access, request, caller, route, path, result, detail))


async def audit_of_success(request: web.Request) -> AuditEvent | None:
    """The audit trail's entry for this request succeeding, for its change to record in its own transaction
    (the middleware then records none); None when authentication is off or the route is not audited."""
    access = request.app.get(ACCESS)
    route = request.match_info.route.name or ""
    path = request.match_info.get("name")
    if access is None or route not in AUDITED_ROUTES or path is None:
        return None
    request[AUDITED] = True
    return await _audit_event(access, request, caller_of(request), route, path, "success")


async def _audit_event(
    access: AccessControl,
    request: web.Request,
    caller: Caller,
    route: str,
    path: str,
    result: str,
    detail: dict[str, str] | None = None,
) -> AuditEvent:
    registry = path.partition("/")[0]
    reference = request.match_info.get("reference") or request.match_info.get("digest") or ""
    # Not yet validated when a refusal is recorded: no control character (PostgreSQL refuses NUL) reaches a row.
    reference = "".join(c if c.isprintable() else "\ufffd" for c in reference[:MAX_REFERENCE])
    principal = caller.principal
    # Filed under the registry's account, so its admins see attempts by callers from elsewhere too.
    owner = await access.authorizer.registry(registry)
    return AuditEvent(
        time=access.clock.now(),
        account=owner.account if owner is not None else getattr(principal, "account", None),
        actor=caller.name,
        action=AUDITED_ROUTES[route],
        target=f"{path}@{reference}" if reference.startswith("sha") else f"{path}:{reference}",
        result=result,
        remote=request.remote,
        credential=credential_name(principal),
        registry=registry,
        detail=detail or {},
    )


def _still_valid(credential: Credential, secret_id: str | None, now: datetime) -> bool:
    """Whether the secret a token was issued for is still one of the credential's valid secrets."""
    return secret_id is not None and any(
        secret.sha256.startswith(secret_id) and (secret.valid_until is None or secret.valid_until > now)
        for secret in credential.secrets
    )


def _basic(value: str) -> tuple[str, str]:
    """(username, secret) of a Basic credential (RFC 7617: base64 of `username:secret` in UTF-8, no control
    characters); `Unauthorized` for anything else.

    `value` may hold any character: aiohttp decodes header bytes as UTF-8 and keeps the bytes that are not as
    surrogate escapes, so a value may be non-ASCII, or not even encodable again.
    """
    try:
        decoded = base64.b64decode(value.strip().encode("ascii"), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeError):  # not ASCII, not base64, or not UTF-8 once decoded
        raise Unauthorized("malformed Basic credentials: send base64 of username:secret in UTF-8") from None
    username, sep, secret = decoded.partition(":")
    if not sep or not username:
        raise Unauthorized("malformed Basic credentials: expected username:secret")
    if any(char < " " or char == "\x7f" for char in decoded):  # RFC 7617 forbids them; a NUL would reach the store
        raise Unauthorized("malformed Basic credentials: control characters in the username or secret")
    return username, secret
