"""Kubernetes image pull secrets: the `kubernetes.io/dockerconfigjson` Secret and the ServiceAccount that uses it,
and the use case that issues them with a new pull-only credential or a given one.

The Secret's `.dockerconfigjson` is byte for byte what `kubectl create secret docker-registry NAME
--docker-server=S --docker-username=U --docker-password=P --dry-run=client -o yaml` writes: Go's `encoding/json`
output of `{"auths":{S:{"username":U,"password":P,"auth":base64("U:P")}}}`, compact, in that key order, with
`<`, `>`, `&`, U+2028 and U+2029 escaped as `\\u003c`-style sequences and other non-ASCII text left as UTF-8.
"""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass

from shipshape.domain import credentials as lifecycle
from shipshape.domain.access import Action, CredentialKind, Registry
from shipshape.domain.errors import Conflict, CredentialRequestInvalid, NameInvalid, Unauthorized
from shipshape.domain.secrets import is_well_formed, secret_sha256
from shipshape.ports import AccessStore, Clock
from shipshape.services import rights
from shipshape.services.audit import Actor, AuditLog
from shipshape.services.credentials import CredentialRequest, Credentials, known_credential
from shipshape.services.registries import known_registry

# Kubernetes object names: a Secret or ServiceAccount name is a DNS-1123 subdomain, a namespace a DNS-1123 label.
_LABEL = r"[a-z0-9](?:[-a-z0-9]*[a-z0-9])?"
_DNS_LABEL = re.compile(_LABEL)
_DNS_SUBDOMAIN = re.compile(rf"{_LABEL}(?:\.{_LABEL})*")
DNS_LABEL_PATTERN = rf"^{_LABEL}$"
DNS_SUBDOMAIN_PATTERN = rf"^{_LABEL}(\.{_LABEL})*$"

# What Go's encoding/json escapes beyond what Python's json module does (with ensure_ascii=False).
_GO_ESCAPES = str.maketrans({"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"})


@dataclass(frozen=True, slots=True)
class PullSecret:
    namespace: str
    secret_name: str
    service_account: str
    server: str  # host[:port] as clients address the registry
    username: str
    password: str


@dataclass(frozen=True, slots=True)
class PullSecretRequest:
    registry: str
    namespace: str
    server: str  # host[:port] as clients address the registry
    secret_name: str | None = None  # default `<registry>-pull`
    service_account: str = "default"
    credential: str | None = None  # reuse this pull-only credential...
    secret: str | None = None  # ...whose secret the caller holds


@dataclass(frozen=True, slots=True)
class IssuedPullSecret:
    yaml: str
    username: str
    secret_name: str
    created: bool  # whether a new credential was created for it


def validate_namespace(namespace: str) -> str:
    if len(namespace) > 63 or not _DNS_LABEL.fullmatch(namespace):
        raise NameInvalid(
            f"invalid Kubernetes namespace {namespace!r}: up to 63 lowercase letters, digits and '-',"
            " starting and ending with a letter or digit, e.g. web-prod"
        )
    return namespace


def validate_object_name(name: str, what: str) -> str:
    if len(name) > 253 or not _DNS_SUBDOMAIN.fullmatch(name):
        raise NameInvalid(
            f"invalid Kubernetes {what} name {name!r}: lowercase letters, digits, '-' and '.',"
            " starting and ending with a letter or digit, e.g. acme-prod-pull"
        )
    return name


def default_secret_name(registry: str) -> str:
    """`<registry>-pull`, with the `_` a registry name may hold (and Kubernetes names may not) made `-`."""
    return f"{registry.replace('_', '-')}-pull"


def credential_name(namespace: str, limit: int = 64) -> str:
    """`k8s-<namespace>`: the name of the pull-only credential created for a namespace's pull secret (a credential
    name allows neither the runs of `-` nor the length a namespace may have)."""
    return re.sub("-+", "-", f"k8s-{namespace}")[:limit].rstrip("-")


def _go_json(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).translate(_GO_ESCAPES)


def docker_config_json(server: str, username: str, password: str) -> bytes:
    """The `.dockerconfigjson` document kubectl writes for one registry and one login."""
    auth = base64.b64encode(f"{username}:{password}".encode()).decode()
    entry = {"username": username, "password": password, "auth": auth}
    return _go_json({"auths": {server: entry}}).encode()


def manifests(secret: PullSecret) -> str:
    """YAML for the Secret and for the ServiceAccount that lists it in `imagePullSecrets`."""
    config = base64.b64encode(docker_config_json(secret.server, secret.username, secret.password)).decode()
    add_patch = _go_json([{"op": "add", "path": "/imagePullSecrets/-", "value": {"name": secret.secret_name}}])
    return (
        f"# Pull secret for {secret.server} as {secret.username}.\n"
        "apiVersion: v1\n"
        "kind: Secret\n"
        "metadata:\n"
        f"  name: {secret.secret_name}\n"
        f"  namespace: {secret.namespace}\n"
        "type: kubernetes.io/dockerconfigjson\n"
        "data:\n"
        f"  .dockerconfigjson: {config}\n"
        "---\n"
        f"# Applying this sets the ServiceAccount's imagePullSecrets to exactly this list. To add to a list it\n"
        "# already has instead, run:\n"
        f"#   kubectl -n {secret.namespace} patch serviceaccount {secret.service_account} --type=json"
        f" -p '{add_patch}'\n"
        "apiVersion: v1\n"
        "kind: ServiceAccount\n"
        "metadata:\n"
        f"  name: {secret.service_account}\n"
        f"  namespace: {secret.namespace}\n"
        "imagePullSecrets:\n"
        f"- name: {secret.secret_name}\n"
    )


class PullSecrets:
    """Issues pull secrets; a new pull-only credential for one comes from `credentials`."""

    def __init__(self, store: AccessStore, clock: Clock, audit: AuditLog, credentials: Credentials) -> None:
        self._store = store
        self._clock = clock
        self._audit = audit
        self._credentials = credentials

    async def pull_secret(self, actor: Actor, request: PullSecretRequest) -> IssuedPullSecret:
        """YAML for a pull secret of `request.registry`: with a new pull-only credential, or the given one."""
        target = request.registry
        async with self._audit.failures(actor, "pull_secret.create", target, account=None, registry=target):
            return await self._pull_secret(actor, request)

    async def _pull_secret(self, actor: Actor, request: PullSecretRequest) -> IssuedPullSecret:
        registry = await known_registry(self._store, request.registry, actor.member)
        refusal = rights.may_manage(actor.member, registry.account, "credentials")
        await self._audit.enforce(actor, refusal, "pull_secret.create", request.registry, registry.account)
        namespace = validate_namespace(request.namespace)
        secret_name = validate_object_name(request.secret_name or default_secret_name(registry.name), "Secret")
        service_account = validate_object_name(request.service_account, "ServiceAccount")
        if request.credential is not None:
            username, secret = request.credential, await self._reusable(request, registry)
            created = False
        else:
            name = credential_name(namespace)
            wanted = f"{registry.name}+{name}"
            if await self._store.get_credential(wanted) is not None:
                raise Conflict(
                    f"credential {wanted} already exists for namespace {namespace!r}: reuse it with"
                    f" `--credential {wanted}` and its secret on standard input (`shipshape credential reset {wanted}`"
                    " gives it a new one if it is lost)"
                )
            issued = await self._credentials.create_credential(
                actor,
                CredentialRequest(
                    name=name, registries=[registry.name], kind=CredentialKind.PULL,
                    actions=frozenset({Action.PULL}),
                ),
            )  # fmt: skip
            username, secret, created = issued.credential.username, issued.secret, True
        document = manifests(PullSecret(namespace, secret_name, service_account, request.server, username, secret))
        await self._audit.record(
            actor, "pull_secret.create", f"{namespace}/{secret_name}", account=registry.account,
            registry=registry.name, credential=username,
            detail={"server": request.server, "service_account": service_account},
        )  # fmt: skip
        return IssuedPullSecret(document, username, secret_name, created)

    async def _reusable(self, request: PullSecretRequest, registry: Registry) -> str:
        """The secret the caller gave for the credential to reuse, once it proves right and pull-only."""
        username = request.credential or ""
        credential = await known_credential(self._store, username)
        if credential.account != registry.account:
            raise CredentialRequestInvalid(
                f"credential {username} belongs to account {credential.account!r}, registry {registry.name!r} to"
                f" {registry.account!r}: use a credential of the registry's account"
            )
        if request.secret is None or not is_well_formed(request.secret):
            raise CredentialRequestInvalid(
                f"reusing credential {username} needs its secret (shps_…): pass it on standard input;"
                " or leave out --credential to create a new pull-only credential"
            )
        try:
            lifecycle.verify(credential, secret_sha256(request.secret), self._clock.now())
        except Unauthorized as error:
            raise CredentialRequestInvalid(
                f"the secret given does not log in as {username} ({error.message}): give its current secret,"
                f" or reset it with `shipshape credential reset {username}`"
            ) from None
        granted = {action for scope in credential.scopes if scope.registry == registry.name for action in scope.actions}
        if granted != {Action.PULL}:
            raise CredentialRequestInvalid(
                f"credential {username} is not pull-only on {registry.name!r}: a cluster should only pull;"
                " leave out --credential to create a pull-only credential"
            )
        return request.secret
