"""The authenticated manifest GET set: Shipshape with and without ``--auth``, side by side.

A second Shipshape (same options plus ``--auth``) gets, through its management API as ``admin``, a development
registry and a ``ci`` credential with pull and push on it; the small image is pushed into that registry with
the credential (Basic), and into the same repository of the Shipshape without authentication, so every wrk
run asks for the same path. Secrets stay in memory: they are never logged or written to the report.
"""

from __future__ import annotations

import base64
import json
import secrets
from dataclasses import dataclass, field
from urllib.parse import urlencode

import client
from servers import Server

ADMIN = "admin"
REGISTRY = "bench-dev"
REPO = f"{REGISTRY}/app"
TAG = "v1"
SERVICE = "shipshape"
API = "/api/v1"


def new_password() -> str:
    """An admin password for the server's first start (32 random characters)."""
    return secrets.token_urlsafe(24)


def basic(username: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{secret}".encode()).decode()


def _string(body: bytes, key: str, what: str) -> str:
    value = json.loads(body).get(key)
    if not isinstance(value, str) or not value:
        raise client.RegistryError(f"{what}: no {key!r} in the answer")
    return value


@dataclass
class AuthSet:
    """The Shipshape without authentication (a target column), the one with it, and what the setup made."""

    plain: Server
    server: Server
    admin_password: str
    credential: str | None = None  # the ci credential's Basic header, once created
    manifests: dict[str, bytes] = field(default_factory=dict)  # server label -> manifest pushed there

    def _api(self, path: str, body: dict[str, object]) -> bytes:
        """POST a JSON body to the management API as admin; the answer must be 201."""
        with client.Registry(
            self.server.host, self.server.port, authorization=basic(ADMIN, self.admin_password)
        ) as reg:
            headers = {"Content-Type": "application/json"}
            return reg.request("POST", API + path, headers, json.dumps(body).encode(), expect=201).body

    def prepare(self) -> None:
        """Create the registry and the credential, push the image to both servers, check who may GET it."""
        self._api("/registries", {"name": REGISTRY, "environment": "development"})
        issued = self._api(
            "/credentials", {"name": "bench-ci", "registries": [REGISTRY], "kind": "ci", "actions": ["pull", "push"]}
        )
        what = "creating the credential"
        self.credential = basic(_string(issued, "username", what), _string(issued, "secret", what))
        for server, authorization in ((self.server, self.credential), (self.plain, None)):
            with client.Registry(server.host, server.port, authorization=authorization) as reg:
                self.manifests[server.label] = client.push_small_image(reg, REPO, TAG)
        with client.Registry(self.server.host, self.server.port) as reg:  # no credentials: must be refused
            reg.request("GET", manifest_path(), {"Accept": client.OCI_MANIFEST}, expect=401)
        self.check(self.plain, None)
        self.check(self.server, self.credential)
        self.check(self.server, self.bearer())

    def check(self, server: Server, authorization: str | None) -> None:
        """One GET as wrk will send it: 200, the pushed bytes, the OCI media type and digest."""
        with client.Registry(server.host, server.port, authorization=authorization) as reg:
            client.check_manifest(reg, REPO, TAG, self.manifests[server.label])

    def bearer(self) -> str:
        """A fresh pull token for the repository (tokens last 5 minutes), from the token endpoint with Basic."""
        if self.credential is None:
            raise RuntimeError("no credential: the setup of the authenticated server failed")
        query = urlencode({"service": SERVICE, "scope": f"repository:{REPO}:pull"})
        with client.Registry(self.server.host, self.server.port, authorization=self.credential) as reg:
            body = reg.request("GET", f"/auth/token?{query}").body
        return "Bearer " + _string(body, "token", "fetching a token")


def manifest_path() -> str:
    return f"/v2/{REPO}/manifests/{TAG}"
