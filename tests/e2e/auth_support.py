"""Helpers for the authentication end-to-end tests: a server with `--auth`, the `shipshape` CLI run as a user
would run it, podman logins, and reading what the server logged.

The CLI is always a subprocess with a private HOME and XDG_CONFIG_HOME, so its stored login never leaks between
tests or into the machine's own configuration.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import secrets
import subprocess
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from .support import (
    TARGET_SHIPSHAPE,
    Podman,
    RegistryServer,
    run,
    safe_rmtree,
    selected_target,
    shipshape_command,
    wait_until,
)

ADMIN = "admin"
ADMIN_PASSWORD_ENV = "SHIPSHAPE_ADMIN_PASSWORD"


def strong_password() -> str:
    """A password the member policy accepts (long, not common, free of any username) that is new each time."""
    return f"Quartz-{secrets.token_hex(10)}-Lantern"


@contextlib.contextmanager
def private_dir(prefix: str) -> Iterator[Path]:
    """A short directory under /tmp (podman's runroot and unix socket paths need short ones), removed after."""
    path = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
    try:
        yield path
    finally:
        safe_rmtree(path)


@contextlib.contextmanager
def auth_server(workdir: Path, admin_password: str, extra_args: Iterable[str] = ()) -> Iterator[RegistryServer]:
    """`shipshape serve --auth` on a fresh data directory whose first start creates `default`/`admin`."""
    server = RegistryServer(TARGET_SHIPSHAPE, workdir / "srv", auth=True, extra_args=extra_args)
    # RegistryServer passes the test process's environment on to the server; the admin password is read there.
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(ADMIN_PASSWORD_ENV, admin_password)
        server.start()
    try:
        yield server
    finally:
        server.stop()


def failed(request: pytest.FixtureRequest) -> bool:
    """Whether the test failed in setup or call (conftest's report hook records the reports on the node)."""
    return any(
        getattr(getattr(request.node, f"_e2e_report_{when}", None), "failed", False) for when in ("setup", "call")
    )


# --------------------------------------------------------------------------------------------------
# what the server logged


def log_records(server: RegistryServer) -> list[dict[str, Any]]:
    """Every JSON object the server logged (one per line), in order."""
    records: list[dict[str, Any]] = []
    for path in server.log_paths:
        try:
            text = path.read_text(errors="replace")
        except OSError:
            continue
        for line in text.splitlines():
            if not line.startswith("{"):
                continue
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if isinstance(record, dict):
                records.append(record)
    return records


def requests_logged(server: RegistryServer) -> list[tuple[str, str, int]]:
    """(method, path, status) of every request in the server's JSON access log."""
    return [
        (str(r["method"]), str(r["path"]), int(r["status"]))
        for r in log_records(server)
        if {"method", "path", "status"} <= r.keys()
    ]


def wait_for_request(
    server: RegistryServer, since: int, method: str, path: str, status: int | None = None
) -> list[tuple[str, str, int]]:
    """Poll (bounded) until a request matching method/path (and status) was logged after the first `since`
    requests; return the requests logged since then. The access log line follows the response by a moment."""
    found: list[tuple[str, str, int]] = []

    def logged() -> bool:
        nonlocal found
        found = requests_logged(server)[since:]
        return any(m == method and p == path and (status is None or s == status) for m, p, s in found)

    wait_until(logged, timeout=10, what=f"{method} {path} in the server's log")
    return found


# --------------------------------------------------------------------------------------------------
# the shipshape CLI


@dataclass(frozen=True)
class Credential:
    username: str
    secret: str

    @property
    def creds(self) -> str:
        """`user:secret`, as skopeo's `--creds` and ctr's `--user` take it."""
        return f"{self.username}:{self.secret}"


class ShipshapeCli:
    """The `shipshape` command as a person runs it: a private HOME, the server in SHIPSHAPE_SERVER, and either a
    stored `shipshape login` or SHIPSHAPE_USERNAME/SHIPSHAPE_PASSWORD."""

    def __init__(self, home: Path, server_url: str, username: str | None = None, password: str | None = None) -> None:
        self.home = home
        (home / ".config").mkdir(parents=True, exist_ok=True)
        self.env = {
            "PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"),
            "HOME": str(home),
            "XDG_CONFIG_HOME": str(home / ".config"),
            "SHIPSHAPE_SERVER": server_url,
            "LANG": "C.UTF-8",
            "COLUMNS": "200",
        }
        if username is not None:
            self.env["SHIPSHAPE_USERNAME"] = username
            self.env["SHIPSHAPE_PASSWORD"] = password or ""

    def run(self, *args: str, stdin: str | None = None, check: bool = True) -> subprocess.CompletedProcess[bytes]:
        return run(
            [shipshape_command(), *args],
            env=self.env,
            check=check,
            timeout=120,
            input_bytes=stdin.encode() if stdin is not None else None,
        )

    def json(self, *args: str, stdin: str | None = None) -> Any:
        result = self.run(*args, "--json", stdin=stdin)
        return json.loads(result.stdout)

    def login(self, username: str, password: str) -> None:
        self.run("login", "--username", username, "--password-stdin", stdin=password)

    def credential(
        self, name: str, registry: str, kind: str, actions: str | None = None, *, expires_in: str | None = None
    ) -> Credential:
        """`credential create NAME --registry R --kind K [--actions A] [--expires-in E] --json`."""
        args = ["credential", "create", name, "--registry", registry, "--kind", kind]
        if actions is not None:
            args += ["--actions", actions]
        if expires_in is not None:
            args += ["--expires-in", expires_in]
        issued = self.json(*args)
        return Credential(str(issued["username"]), str(issued["secret"]))

    def new_secret(self, *args: str) -> Credential:
        """`credential rotate|reset USERNAME …`: the same username with the new secret it prints."""
        issued = self.json("credential", *args)
        return Credential(str(issued["username"]), str(issued["secret"]))


@dataclass
class AuthWorld:
    """One `--auth` server for a module, and its first owner's CLI (logged in with `shipshape login`, so the
    password is stored in the CLI's private config rather than passed in the environment)."""

    root: Path
    server: RegistryServer
    admin_password: str
    admin: ShipshapeCli

    def cli(self, name: str, username: str | None = None, password: str | None = None) -> ShipshapeCli:
        """Another person's CLI, with a HOME of its own, logged in through the environment."""
        return ShipshapeCli(self.root / "homes" / name, self.server.url, username, password)

    def registry(self, name: str, environment: str = "development", *extra: str) -> None:
        self.admin.run("registry", "create", name, "--environment", environment, *extra)


@contextlib.contextmanager
def auth_world(prefix: str = "ssa-", extra_args: Iterable[str] = ()) -> Iterator[AuthWorld]:
    """A private directory, an `--auth` server in it, and the admin's CLI; skipped on the Distribution target."""
    if selected_target() != TARGET_SHIPSHAPE:
        pytest.skip("authentication is shipshape-only: not checked against the Distribution dev target")
    admin_password = strong_password()
    with private_dir(prefix) as root, auth_server(root, admin_password, extra_args) as server:
        admin = ShipshapeCli(root / "homes" / ADMIN, server.url)
        admin.login(ADMIN, admin_password)
        yield AuthWorld(root, server, admin_password, admin)


# --------------------------------------------------------------------------------------------------
# registry clients with credentials


class LoginPodman(Podman):
    """podman whose commands may read standard input (for `podman login --password-stdin`)."""

    @property
    def authfile(self) -> Path:
        return self.base / "auth.json"  # also REGISTRY_AUTH_FILE in self.env

    def run(self, *args: str, check: bool = True, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
        cmd = [
            self.binary,
            "--storage-driver", "vfs",
            "--cgroup-manager", "cgroupfs",
            "--events-backend", "file",
            "--root", str(self.root),
            "--runroot", str(self.runroot),
            "--tmpdir", str(self.tmpdir),
            "--network-config-dir", str(self.base / "n"),
            *args,
        ]  # fmt: skip
        return run(cmd, env=self.env, check=check, input_bytes=stdin)

    def login(self, address: str, credential: Credential, *, check: bool = True) -> subprocess.CompletedProcess[bytes]:
        return self.run(
            "login", "--tls-verify=false", "--authfile", str(self.authfile), "--username", credential.username,
            "--password-stdin", address,
            stdin=credential.secret.encode(), check=check,
        )  # fmt: skip


def basic_auth(credential: Credential) -> dict[str, str]:
    token = base64.b64encode(credential.creds.encode()).decode()
    return {"Authorization": f"Basic {token}"}


def v2_get(server: RegistryServer, path: str, credential: Credential) -> requests.Response:
    """A raw GET with Basic credentials (no token flow)."""
    return requests.get(f"{server.url}/v2/{path}", headers=basic_auth(credential), timeout=30)


def output(result: subprocess.CompletedProcess[bytes]) -> str:
    return (result.stdout + result.stderr).decode(errors="replace")


# --------------------------------------------------------------------------------------------------
# Kubernetes pull-secret YAML


@dataclass(frozen=True)
class PullSecretYaml:
    """What a test needs from the YAML of a `kubernetes.io/dockerconfigjson` Secret (and its ServiceAccount)."""

    secret_name: str
    namespace: str | None
    secret_type: str
    docker_config_json: bytes  # decoded `.data[".dockerconfigjson"]`
    image_pull_secrets: list[str]  # names under the ServiceAccount's imagePullSecrets, if there is one
    service_account: str | None

    def login(self, server: str) -> Credential:
        entry = json.loads(self.docker_config_json)["auths"][server]
        username, _, secret = base64.b64decode(entry["auth"]).decode().partition(":")
        assert (username, secret) == (entry["username"], entry["password"]), "auth disagrees with username/password"
        return Credential(username, secret)


def parse_pull_secret_yaml(text: str) -> PullSecretYaml:
    """A small reader for the flat YAML that `shipshape k8s pull-secret` and `kubectl create secret … -o yaml`
    print: documents separated by `---`, `key: value` lines, two-space nesting, `- name: X` list items.

    It is no general YAML parser (PyYAML is not a dependency of the project), so it asserts the shapes it relies on.
    """
    secret: dict[str, Any] = {}
    account: dict[str, Any] = {}
    for document in text.split("\n---\n"):
        lines = [line for line in document.splitlines() if line.strip() and not line.lstrip().startswith("#")]
        top: dict[str, str] = {}
        nested: dict[str, dict[str, str]] = {}
        items: dict[str, list[str]] = {}
        section = ""
        for line in lines:
            if line.startswith("- "):
                key, _, value = line[2:].partition(": ")
                assert key == "name", f"unexpected list item {line!r}"
                items.setdefault(section, []).append(value.strip())
            elif line.startswith("  "):
                key, _, value = line.strip().partition(":")
                nested.setdefault(section, {})[key] = value.strip()
            else:
                key, _, value = line.partition(":")
                section = key
                top[key] = value.strip()
        if top.get("kind") == "Secret":
            assert not secret, "two Secrets in one pull-secret YAML"
            secret = {"top": top, "nested": nested}
        elif top.get("kind") == "ServiceAccount":
            account = {"top": top, "nested": nested, "items": items}
    assert secret, f"no Secret in:\n{text}"
    _cross_check_with_pyyaml(text, secret)
    metadata = secret["nested"].get("metadata", {})
    data = secret["nested"].get("data", {})
    return PullSecretYaml(
        secret_name=metadata["name"],
        namespace=metadata.get("namespace"),
        secret_type=secret["top"].get("type", ""),
        docker_config_json=base64.b64decode(data[".dockerconfigjson"], validate=True),
        image_pull_secrets=list(account.get("items", {}).get("imagePullSecrets", [])),
        service_account=account.get("nested", {}).get("metadata", {}).get("name") if account else None,
    )


def _cross_check_with_pyyaml(text: str, secret: dict[str, Any]) -> None:
    """Where PyYAML happens to be installed, make sure a real YAML parser reads the same Secret."""
    try:
        import yaml  # type: ignore[import-untyped]
    except ImportError:
        return
    documents = [d for d in yaml.safe_load_all(text) if d]
    [parsed] = [d for d in documents if d.get("kind") == "Secret"]
    assert parsed["data"] == secret["nested"]["data"], (parsed, secret)
    assert parsed["metadata"]["name"] == secret["nested"]["metadata"]["name"]
