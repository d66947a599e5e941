"""Shipshape with and without ``--auth``, side by side: authenticated manifest GET, and manifest PUT with policies.

A second Shipshape (same options plus ``--auth``) gets, through its management API as ``admin``, a development
registry ``bench-dev``, a production registry ``bench-prod`` and a ``ci`` credential with pull and push on both.

- GET (manifest_get_auth): the small image is pushed into ``bench-dev/app`` with the credential (Basic), and into
  the same repository of the Shipshape without authentication, so every wrk run asks for the same path.
- PUT (manifest_put): a config and a layer blob are uploaded into ``bench-dev/put`` and ``bench-prod/put`` with the
  credential, and into ``bench-dev/put`` of the Shipshape without authentication; the PUT runs then push manifests
  there. The setup checks that the production policy is in force: tag ``latest`` is refused, a tag does not move,
  and ``admin`` (a member, not a ci credential) may not push a manifest.

Secrets stay in memory: they are never logged or written to the report.
"""

from __future__ import annotations

import base64
import json
import secrets
from dataclasses import dataclass, field
from urllib.parse import urlencode

import client
import putload
from servers import Server

ADMIN = "admin"
REGISTRY = "bench-dev"
PROD_REGISTRY = "bench-prod"
REPO = f"{REGISTRY}/app"
PUT_REPOS = {"dev": f"{REGISTRY}/put", "prod": f"{PROD_REGISTRY}/put"}
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
    images: dict[str, putload.Image] = field(default_factory=dict)  # manifest_put variant -> its blobs

    def _api(self, path: str, body: dict[str, object]) -> bytes:
        """POST a JSON body to the management API as admin; the answer must be 201."""
        with client.Registry(
            self.server.host, self.server.port, authorization=basic(ADMIN, self.admin_password)
        ) as reg:
            headers = {"Content-Type": "application/json"}
            return reg.request("POST", API + path, headers, json.dumps(body).encode(), expect=201).body

    def prepare(self, get: bool = True, put: bool = False) -> None:
        """Create the registries and the credential; then what manifest_get_auth (``get``) and manifest_put
        (``put``) need."""
        self._api("/registries", {"name": REGISTRY, "environment": "development"})
        self._api("/registries", {"name": PROD_REGISTRY, "environment": "production"})
        issued = self._api(
            "/credentials",
            {"name": "bench-ci", "registries": [REGISTRY, PROD_REGISTRY], "kind": "ci", "actions": ["pull", "push"]},
        )
        what = "creating the credential"
        self.credential = basic(_string(issued, "username", what), _string(issued, "secret", what))
        if get:
            self._prepare_get()
        if put:
            self._prepare_put()

    def _prepare_get(self) -> None:
        """Push the small image to both servers, check who may GET it."""
        for server, authorization in ((self.server, self.credential), (self.plain, None)):
            with client.Registry(server.host, server.port, authorization=authorization) as reg:
                self.manifests[server.label] = client.push_small_image(reg, REPO, TAG)
        with client.Registry(self.server.host, self.server.port) as reg:  # no credentials: must be refused
            reg.request("GET", manifest_path(), {"Accept": client.OCI_MANIFEST}, expect=401)
        self.check(self.plain, None)
        self.check(self.server, self.credential)
        self.check(self.server, self.bearer())

    def put_target(self, variant: str) -> tuple[Server, str, str | None]:
        """(server, repository, Authorization) of a manifest_put variant: noauth, dev or prod."""
        if variant == "noauth":
            return self.plain, PUT_REPOS["dev"], None
        if self.credential is None:
            raise RuntimeError("no credential: the setup of the authenticated server failed")
        return self.server, PUT_REPOS[variant], self.credential

    def _prepare_put(self) -> None:
        """Upload the blobs for every PUT variant; check that the production policy refuses what it should."""
        for variant in ("noauth", "dev", "prod"):
            server, repo, authorization = self.put_target(variant)
            with client.Registry(server.host, server.port, authorization=authorization) as reg:
                self.images[variant] = putload.upload_image(reg, repo)
        image, repo = self.images["prod"], PUT_REPOS["prod"]
        with client.Registry(self.server.host, self.server.port, authorization=self.credential) as reg:
            _refused(putload.put_one(reg, repo, "latest", image.manifest(-1), expect=403), "denied_tags")
            putload.put_one(reg, repo, "v0.0.0", image.manifest(-1))
            _refused(putload.put_one(reg, repo, "v0.0.0", image.manifest(-2), expect=403), "tag_mutability")
        with client.Registry(
            self.server.host, self.server.port, authorization=basic(ADMIN, self.admin_password)
        ) as reg:
            _refused(putload.put_one(reg, repo, "v0.0.1", image.manifest(-3), expect=403), "manifest_creators")

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


def _refused(resp: client.Response, rule: str) -> None:
    """A 403 must name the policy rule that refused the push."""
    if rule.encode() not in resp.body:
        raise client.RegistryError(f"expected a refusal by rule {rule}, got {resp.body[:300]!r}")


def manifest_path() -> str:
    return f"/v2/{REPO}/manifests/{TAG}"
