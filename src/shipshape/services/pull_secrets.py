"""Kubernetes image pull secrets: the `kubernetes.io/dockerconfigjson` Secret and the ServiceAccount that uses it.

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

from shipshape.domain.errors import NameInvalid

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
