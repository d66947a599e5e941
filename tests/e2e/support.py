"""Helpers for the end-to-end suite: server processes, real clients and image factories.

Everything here talks only to 127.0.0.1 and keeps its state in private directories, so tests do not
leak into each other or into the machine's global container configuration.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import io
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

TARGET_ENV = "SHIPSHAPE_E2E_TARGET"
TARGET_SHIPSHAPE = "shipshape"
TARGET_DISTRIBUTION = "distribution"

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_EMPTY = "application/vnd.oci.empty.v1+json"
OCI_EMPTY_DIGEST = "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"

MANIFEST_ACCEPT = ", ".join(
    [
        OCI_MANIFEST,
        OCI_INDEX,
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
    ]
)

COMMAND_TIMEOUT = 300.0  # seconds, for any single client command


# --------------------------------------------------------------------------------------------------
# small utilities


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() == "true"


def require_tool(name: str) -> str:
    """Return the path of an external tool; fail in CI and skip elsewhere when it is missing."""
    path = shutil.which(name)
    if path is None:
        message = f"external tool {name!r} is not installed"
        if in_ci():
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    return path


def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return "sha256:" + h.hexdigest()


@contextlib.contextmanager
def postgres_database(prefix: str = "shipshape_e2e") -> Iterator[str]:
    """The URL of a new, empty database on the server `SHIPSHAPE_TEST_POSTGRES_URL` names, dropped afterwards."""
    server_url = os.environ.get("SHIPSHAPE_TEST_POSTGRES_URL")
    if not server_url:
        message = "SHIPSHAPE_TEST_POSTGRES_URL is not set: scripts/test starts a PostgreSQL and sets it"
        if in_ci():
            pytest.fail(message)
        pytest.skip(message)
    admin = create_engine(make_url(server_url).set(drivername="postgresql+psycopg"), isolation_level="AUTOCOMMIT")
    database = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with admin.connect() as connection:
        connection.execute(text(f"CREATE DATABASE {database}"))
    try:
        yield make_url(server_url).set(database=database).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)"))
        admin.dispose()


def write_hello_context(context: Path) -> Path:
    """A build context for `podman build`: FROM scratch plus one file of new content (so a new digest each time)."""
    (context / "app").mkdir(parents=True)
    (context / "app" / "hello.txt").write_text(f"hello {os.urandom(8).hex()}\n")
    (context / "Containerfile").write_text('FROM scratch\nCOPY app/ /app/\nCMD ["/app/hello.txt"]\n')
    return context


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def tail(path: Path, lines: int = 60) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return f"<no file {path}>"
    return "\n".join(text.splitlines()[-lines:])


def mounts_under(path: Path) -> list[str]:
    """Mount points below ``path`` (so we never rmtree into a live mount)."""
    prefix = str(path.resolve()).rstrip("/") + "/"
    found = []
    try:
        with open("/proc/self/mountinfo") as f:
            for line in f:
                mount_point = line.split()[4].replace("\\040", " ")
                if mount_point.startswith(prefix) or mount_point == prefix.rstrip("/"):
                    found.append(mount_point)
    except OSError:
        pass
    return found


def safe_rmtree(path: Path) -> None:
    if os.environ.get("SHIPSHAPE_E2E_KEEP"):
        print(f"keeping {path} (SHIPSHAPE_E2E_KEEP is set)")
        return
    live = mounts_under(path)
    if live:
        print(f"not removing {path}: mounts still present below it: {live}")
        return
    shutil.rmtree(path, ignore_errors=True)


def run(
    cmd: list[str],
    *,
    env: dict[str, str] | None = None,
    check: bool = True,
    timeout: float = COMMAND_TIMEOUT,
    cwd: Path | None = None,
    input_bytes: bytes | None = None,
) -> subprocess.CompletedProcess[bytes]:
    proc = subprocess.run(
        cmd,
        env=env,
        cwd=cwd,
        input=input_bytes,
        stdin=None if input_bytes is not None else subprocess.DEVNULL,
        capture_output=True,
        timeout=timeout,
        check=False,
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"command failed with exit code {proc.returncode}: {' '.join(cmd)}\n"
            f"--- stdout ---\n{proc.stdout.decode(errors='replace')[-4000:]}\n"
            f"--- stderr ---\n{proc.stderr.decode(errors='replace')[-4000:]}"
        )
    return proc


def _exited_unreaped(pid: int, timeout: float) -> bool:
    """Wait (bounded) for ``pid`` to exit *without reaping it*, so its PID cannot be reused yet."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None:
                return True
        except ChildProcessError:
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)


def stop_process(proc: subprocess.Popen[bytes], *, grace: float = 15.0) -> None:
    """Stop a process we started (in its own session): SIGTERM to its PID, then SIGKILL to its group.

    The leader is not reaped before the group is signalled, so the group id (= its PID) still names
    only processes we started.
    """
    if proc.returncode is not None:
        return  # already reaped
    pid = proc.pid
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    if not _exited_unreaped(pid, grace):
        os.kill(pid, signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)  # leftovers in its group (workers), if any
    proc.wait(timeout=grace)


def wait_until(
    predicate: Callable[[], bool],
    *,
    timeout: float,
    interval: float = 0.05,
    what: str = "condition",
) -> None:
    """Poll ``predicate`` in a bounded loop."""
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def parse_prometheus(text: str) -> dict[str, float]:
    """Sum every sample of each metric name over all label sets."""
    totals: dict[str, float] = {}
    pattern = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})?\s+(\S+)")
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = pattern.match(line)
        if not m:
            continue
        try:
            value = float(m.group(3))
        except ValueError:
            continue
        totals[m.group(1)] = totals.get(m.group(1), 0.0) + value
    return totals


ACCESS_LOG_RE = re.compile(r'"(?P<method>[A-Z]+) (?P<path>\S+) HTTP/[\d.]+" (?P<status>\d{3}) ')


@dataclass(frozen=True)
class LoggedRequest:
    method: str
    path: str  # including the query string when the server logs it
    status: int


# --------------------------------------------------------------------------------------------------
# the server under test


def selected_target() -> str:
    target = os.environ.get(TARGET_ENV, TARGET_SHIPSHAPE).strip().lower() or TARGET_SHIPSHAPE
    if target not in (TARGET_SHIPSHAPE, TARGET_DISTRIBUTION):
        raise pytest.UsageError(f"{TARGET_ENV} must be {TARGET_SHIPSHAPE!r} or {TARGET_DISTRIBUTION!r}")
    return target


def shipshape_command() -> str:
    override = os.environ.get("SHIPSHAPE_BIN")
    if override:
        return override
    beside_python = Path(sys.executable).parent / "shipshape"
    if beside_python.exists():
        return str(beside_python)
    return require_tool("shipshape")


class RegistryServer:
    """A real registry process on 127.0.0.1 with its own data directory.

    ``target`` is ``shipshape`` (the product) or ``distribution`` (CNCF Distribution, used only while
    developing the suite). The process runs in its own session so ``kill9`` can take down the whole
    service, workers included, like a crash would.
    """

    def __init__(self, target: str, workdir: Path, extra_args: Iterable[str] = (), auth: bool = False) -> None:
        self.target = target
        self.extra_args = list(extra_args)
        self.auth = auth
        self.workdir = workdir
        self.data_dir = workdir / "data"
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0
        self.log_paths: list[Path] = []
        if target == TARGET_SHIPSHAPE:
            self.executable = shipshape_command()
        else:
            self.executable = require_tool("docker-registry")

    # addresses -------------------------------------------------------------------------------------
    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.address}"

    @property
    def pid(self) -> int:
        assert self.proc is not None, "server not started"
        return self.proc.pid

    @property
    def is_shipshape(self) -> bool:
        return self.target == TARGET_SHIPSHAPE

    # on-disk layout ----------------------------------------------------------------------------------
    @property
    def blobs_dir(self) -> Path:
        if self.is_shipshape:
            return self.data_dir / "blobs"
        return self.data_dir / "docker" / "registry" / "v2" / "blobs"

    @property
    def uploads_dir(self) -> Path:
        if self.is_shipshape:
            return self.data_dir / "uploads"
        # Distribution keeps uploads in repositories/<name>/_uploads/<id>/data
        return self.data_dir / "docker" / "registry" / "v2" / "repositories"

    @property
    def health_path(self) -> str:
        return "/healthz" if self.is_shipshape else "/v2/"

    @property
    def stdout_log(self) -> Path:
        return self.workdir / f"server-{self.starts}.stdout.log"

    @property
    def stderr_log(self) -> Path:
        return self.workdir / f"server-{self.starts}.stderr.log"

    def _command(self) -> list[str]:
        if self.is_shipshape:
            return [
                self.executable,
                "serve",
                "--listen",
                self.address,
                "--data-dir",
                str(self.data_dir),
                "--log-json",
                "--auth" if self.auth else "--no-auth",
                *self.extra_args,
            ]
        config = self.workdir / "distribution.yml"
        config.write_text(
            "version: 0.1\n"
            "log:\n"
            "  level: info\n"
            "storage:\n"
            "  filesystem:\n"
            f"    rootdirectory: {self.data_dir}\n"
            "  delete:\n"
            "    enabled: true\n"
            "  maintenance:\n"
            "    uploadpurging:\n"
            "      enabled: false\n"
            "http:\n"
            f"  addr: {self.address}\n"
            "  secret: shipshape-e2e-dev-only\n"
        )
        return [self.executable, "serve", str(config)]

    # lifecycle -------------------------------------------------------------------------------------
    def start(self, *, same_port: bool = False, timeout: float = 60.0) -> None:
        assert self.proc is None or self.proc.poll() is not None, "server already running"
        attempts = 3
        for attempt in range(attempts):
            if not (same_port and self.port and attempt == 0):
                self.port = free_port()
            self.starts += 1
            env = dict(os.environ)
            env.setdefault("PYTHONUNBUFFERED", "1")
            with open(self.stdout_log, "wb") as out, open(self.stderr_log, "wb") as err:
                self.proc = subprocess.Popen(
                    self._command(),
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=err,
                    cwd=self.workdir,
                    env=env,
                    start_new_session=True,
                )
            self.log_paths += [self.stdout_log, self.stderr_log]
            if self._wait_healthy(timeout):
                return
            stop_process(self.proc)
            # It exited before answering. Only a port taken between our probe and its bind is worth
            # another try (on another port); anything else is the server's own failure.
            log = self.stderr_log.read_text(errors="replace") + self.stdout_log.read_text(errors="replace")
            if not re.search(r"address already in use|errno 98", log, re.IGNORECASE):
                break
        raise AssertionError(
            f"{self.target} server exited before answering {self.health_path}"
            f" (exit code {self.proc.returncode if self.proc else None})\n"
            f"--- stderr ---\n{tail(self.stderr_log)}\n--- stdout ---\n{tail(self.stdout_log)}"
        )

    def _wait_healthy(self, timeout: float) -> bool:
        assert self.proc is not None
        deadline = time.monotonic() + timeout
        health_url = self.url + self.health_path
        while time.monotonic() < deadline:
            try:
                if requests.get(health_url, timeout=2).status_code == 200:
                    return True
            except requests.RequestException:
                pass
            try:
                self.proc.wait(timeout=0.05)  # doubles as the poll interval
                return False  # exited
            except subprocess.TimeoutExpired:
                continue
        raise AssertionError(
            f"{self.target} server did not answer {health_url} within {timeout}s\n"
            f"--- stderr ---\n{tail(self.stderr_log)}"
        )

    def kill9(self) -> None:
        """Crash the server: SIGKILL to its PID and to the process group it leads."""
        assert self.proc is not None
        pid = self.proc.pid
        os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)
        self.proc.wait(timeout=30)

    def restart(self) -> None:
        """Start again on the same data directory (and the same port when it is free)."""
        assert self.proc is not None and self.proc.poll() is not None, "stop or kill the server first"
        self.start(same_port=True)

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc)

    # observation -------------------------------------------------------------------------------------
    def metrics(self) -> dict[str, float]:
        r = requests.get(self.url + "/metrics", timeout=10)
        assert r.status_code == 200, f"GET /metrics answered {r.status_code}"
        return parse_prometheus(r.text)

    def request_log(self) -> list[LoggedRequest]:
        """Requests as the server logged them (Distribution: access log; shipshape: --log-json)."""
        records: list[LoggedRequest] = []
        for path in self.log_paths:
            try:
                text = path.read_text(errors="replace")
            except OSError:
                continue
            for line in text.splitlines():
                if self.is_shipshape:
                    try:
                        obj = json.loads(line)
                    except ValueError:
                        continue
                    if isinstance(obj, dict) and {"method", "path", "status"} <= obj.keys():
                        records.append(LoggedRequest(str(obj["method"]), str(obj["path"]), int(obj["status"])))
                else:
                    m = ACCESS_LOG_RE.search(line)
                    if m:
                        records.append(LoggedRequest(m["method"], m["path"], int(m["status"])))
        return records

    def log_tail(self) -> str:
        return "\n".join(f"--- {p.name} ---\n{tail(p)}" for p in self.log_paths[-2:])


# --------------------------------------------------------------------------------------------------
# raw registry HTTP


class RegistryHTTP:
    """Thin raw-HTTP client for the distribution API."""

    def __init__(self, base_url: str | Callable[[], str]) -> None:
        self._base_url = base_url
        self.session = requests.Session()

    @property
    def base_url(self) -> str:
        """The server's URL now (a callable source follows a server restarted on another port)."""
        return self._base_url() if callable(self._base_url) else self._base_url

    def close(self) -> None:
        self.session.close()

    def get_manifest(self, name: str, reference: str) -> requests.Response:
        return self.session.get(
            f"{self.base_url}/v2/{name}/manifests/{reference}",
            headers={"Accept": MANIFEST_ACCEPT},
            timeout=30,
        )

    def head_blob(self, name: str, digest: str) -> requests.Response:
        return self.session.head(f"{self.base_url}/v2/{name}/blobs/{digest}", timeout=30)

    def blob_digest_and_size(self, name: str, digest: str) -> tuple[str, int]:
        """GET a blob, streaming; returns the sha256 digest and size of the bytes served."""
        h = hashlib.sha256()
        size = 0
        with self.session.get(f"{self.base_url}/v2/{name}/blobs/{digest}", stream=True, timeout=300) as r:
            assert r.status_code == 200, f"GET blob answered {r.status_code}"
            for block in r.iter_content(chunk_size=1 << 20):
                h.update(block)
                size += len(block)
        return "sha256:" + h.hexdigest(), size

    def absolute(self, location: str) -> str:
        if location.startswith("http://") or location.startswith("https://"):
            return location
        return self.base_url + location

    def start_upload(self, name: str) -> str:
        r = self.session.post(f"{self.base_url}/v2/{name}/blobs/uploads/", timeout=30)
        assert r.status_code == 202, f"POST upload answered {r.status_code}: {r.text[:500]}"
        return self.absolute(r.headers["Location"])

    def push_blob(self, name: str, data: bytes) -> str:
        """Monolithic POST + PUT; returns the digest."""
        digest = sha256_digest(data)
        location = self.start_upload(name)
        r = self.session.put(
            location,
            params={"digest": digest},
            data=data,
            headers={"Content-Type": "application/octet-stream"},
            timeout=60,
        )
        assert r.status_code == 201, f"PUT blob answered {r.status_code}: {r.text[:500]}"
        return digest

    def put_manifest(self, name: str, reference: str, body: bytes, media_type: str) -> requests.Response:
        return self.session.put(
            f"{self.base_url}/v2/{name}/manifests/{reference}",
            data=body,
            headers={"Content-Type": media_type},
            timeout=30,
        )


# --------------------------------------------------------------------------------------------------
# clients


class Skopeo:
    """skopeo with a private HOME, TMPDIR, auth file, trust policy and blob-info cache."""

    def __init__(self, home: Path) -> None:
        self.binary = require_tool("skopeo")
        self.home = home
        for sub in ("tmp", ".config", ".local/share"):
            (home / sub).mkdir(parents=True, exist_ok=True)
        self.authfile = home / "auth.json"
        self.authfile.write_text('{"auths": {}}\n')
        self.policy = home / "policy.json"
        self.policy.write_text('{"default": [{"type": "insecureAcceptAnything"}]}\n')
        self.env = {
            "PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"),
            "HOME": str(home),
            "TMPDIR": str(home / "tmp"),
            "XDG_CONFIG_HOME": str(home / ".config"),
            "XDG_DATA_HOME": str(home / ".local/share"),
            "XDG_RUNTIME_DIR": str(home / "tmp"),
            # As root, containers/image keeps its blob-info cache (which remembers where blobs live
            # and drives cross-repository mounts) in /var/lib/containers/cache, shared by everything
            # on the machine. Claiming a non-zero "rootless" UID moves it under our private HOME.
            "_CONTAINERS_ROOTLESS_UID": "4242",
        }

    def run(
        self, *args: str, check: bool = True, global_args: Iterable[str] = ()
    ) -> subprocess.CompletedProcess[bytes]:
        if not args:
            raise ValueError("no skopeo subcommand")
        cmd = [
            self.binary,
            "--policy",
            str(self.policy),
            "--tmpdir",
            str(self.home / "tmp"),
            *global_args,
            args[0],
            "--authfile",
            str(self.authfile),
            *args[1:],
        ]
        return run(cmd, env=self.env, check=check)

    def copy(
        self, src: str, dst: str, *extra: str, global_args: Iterable[str] = (), check: bool = True
    ) -> subprocess.CompletedProcess[bytes]:
        return self.run(
            "copy",
            "--src-tls-verify=false",
            "--dest-tls-verify=false",
            *extra,
            src,
            dst,
            global_args=global_args,
            check=check,
        )

    def inspect(self, ref: str, *, check: bool = True) -> subprocess.CompletedProcess[bytes]:
        return self.run("inspect", "--tls-verify=false", ref, check=check)

    def inspect_json(self, ref: str) -> dict[str, Any]:
        result: dict[str, Any] = json.loads(self.inspect(ref).stdout)
        return result

    def inspect_raw(self, ref: str) -> bytes:
        return self.run("inspect", "--tls-verify=false", "--raw", ref).stdout

    def list_tags(self, ref: str) -> list[str]:
        out = self.run("list-tags", "--tls-verify=false", ref).stdout
        return list(json.loads(out)["Tags"])

    def delete(self, ref: str) -> subprocess.CompletedProcess[bytes]:
        return self.run("delete", "--tls-verify=false", ref)


class Podman:
    """podman on vfs with private, short root/runroot/tmpdir and a private HOME."""

    def __init__(self, base: Path) -> None:
        self.binary = require_tool("podman")
        self.base = base
        self.root = base / "r"
        self.runroot = base / "rr"
        self.tmpdir = base / "t"
        self.home = base / "h"
        for d in (self.root, self.runroot, self.tmpdir, self.home, base / "n"):
            d.mkdir(parents=True, exist_ok=True)
        if len(str(self.runroot)) >= 50:
            raise AssertionError(f"podman runroot path too long ({len(str(self.runroot))} chars): {self.runroot}")
        self.env = {
            "PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"),
            "HOME": str(self.home),
            "TMPDIR": str(self.tmpdir),
            "XDG_CONFIG_HOME": str(self.home / ".config"),
            "XDG_DATA_HOME": str(self.home / ".local/share"),
            "XDG_RUNTIME_DIR": str(self.tmpdir),
            "REGISTRY_AUTH_FILE": str(base / "auth.json"),
        }
        (base / "auth.json").write_text('{"auths": {}}\n')

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[bytes]:
        cmd = [
            self.binary,
            "--storage-driver",
            "vfs",
            "--cgroup-manager",
            "cgroupfs",
            "--events-backend",
            "file",
            "--root",
            str(self.root),
            "--runroot",
            str(self.runroot),
            "--tmpdir",
            str(self.tmpdir),
            "--network-config-dir",
            str(self.base / "n"),
            *args,
        ]
        return run(cmd, env=self.env, check=check)


class Containerd:
    """A private containerd daemon (no CRI) with its own root, state and sockets."""

    def __init__(self, base: Path) -> None:
        self.containerd = require_tool("containerd")
        self.ctr_binary = require_tool("ctr")
        self.base = base
        self.root = base / "root"
        self.state = base / "state"
        self.socket = base / "c.sock"
        self.config = base / "config.toml"
        self.log = base / "containerd.log"
        self.proc: subprocess.Popen[bytes] | None = None
        if len(str(self.socket)) + len(".ttrpc") >= 100:
            raise AssertionError(f"containerd socket path too long: {self.socket}")

    def start(self, timeout: float = 60.0) -> None:
        self.config.write_text(
            "version = 2\n"
            f'root = "{self.root}"\n'
            f'state = "{self.state}"\n'
            'disabled_plugins = ["io.containerd.grpc.v1.cri"]\n'
            "[grpc]\n"
            f'  address = "{self.socket}"\n'
            "[ttrpc]\n"
            f'  address = "{self.socket}.ttrpc"\n'
            "[debug]\n"
            f'  address = "{self.base / "debug.sock"}"\n'
            "[metrics]\n"
            '  address = ""\n'
        )
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(
                [self.containerd, "--config", str(self.config)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.socket.exists() and self.ctr("version", check=False).returncode == 0:
                return
            try:
                self.proc.wait(timeout=0.1)
                raise AssertionError(f"containerd exited early:\n{tail(self.log)}")
            except subprocess.TimeoutExpired:
                continue
        raise AssertionError(f"containerd not ready within {timeout}s:\n{tail(self.log)}")

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc)

    def ctr(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[bytes]:
        env = {"PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"), "HOME": str(self.base)}
        return run([self.ctr_binary, "--address", str(self.socket), *args], env=env, check=check)

    def content_digests(self) -> set[str]:
        out = self.ctr("content", "ls", "-q").stdout.decode()
        return {line.strip() for line in out.splitlines() if line.strip()}

    def image_digests(self) -> dict[str, str]:
        """ref -> target digest, from `ctr images ls`."""
        out = self.ctr("images", "ls").stdout.decode().splitlines()
        result = {}
        for line in out[1:]:
            cols = line.split()
            if len(cols) >= 3:
                result[cols[0]] = cols[2]
        return result

    def snapshot_keys(self) -> set[str]:
        out = self.ctr("snapshots", "ls").stdout.decode().splitlines()
        return {line.split()[0] for line in out[1:] if line.strip()}

    def snapshot_files(self, relative: str) -> list[Path]:
        """Paths of ``relative`` inside every unpacked snapshot directory of any snapshotter."""
        found = []
        for snap_root in self.root.glob("io.containerd.snapshotter.v1.*/snapshots/*"):
            for candidate in (snap_root / "fs" / relative, snap_root / relative):
                if candidate.is_file():
                    found.append(candidate)
        return found


# --------------------------------------------------------------------------------------------------
# images


def layer_files(layout: Path) -> dict[str, bytes]:
    """Regular files (path -> bytes) of every layer of the single image in an OCI layout dir."""
    digest = single_manifest_digest_of_layout(layout)
    manifest = json.loads((layout / "blobs" / "sha256" / digest.split(":", 1)[1]).read_bytes())
    files: dict[str, bytes] = {}
    for layer in manifest["layers"]:
        path = layout / "blobs" / "sha256" / layer["digest"].split(":", 1)[1]
        with tarfile.open(path, mode="r:*") as tar:
            for member in tar.getmembers():
                if member.isfile():
                    extracted = tar.extractfile(member)
                    assert extracted is not None
                    files[member.name.removeprefix("./").lstrip("/")] = extracted.read()
    return files


def chain_ids(diff_ids: list[str]) -> list[str]:
    """containerd/OCI ChainIDs of a layer stack: the names of the committed snapshots."""
    chains: list[str] = []
    for diff_id in diff_ids:
        if not chains:
            chains.append(diff_id)
        else:
            chains.append(sha256_digest(f"{chains[-1]} {diff_id}".encode()))
    return chains


@dataclass
class OciLayoutImage:
    """An image stored in an OCI layout directory."""

    layout: Path
    tag: str
    manifest_digest: str
    manifest: dict[str, Any]
    config: dict[str, Any]
    files: dict[str, bytes] = field(default_factory=dict, repr=False)

    @property
    def ref(self) -> str:
        return f"oci:{self.layout}:{self.tag}"

    def blob_path(self, digest: str) -> Path:
        algo, hexd = digest.split(":", 1)
        return self.layout / "blobs" / algo / hexd

    def blob(self, digest: str) -> bytes:
        return self.blob_path(digest).read_bytes()

    @property
    def layer_digests(self) -> list[str]:
        return [layer["digest"] for layer in self.manifest["layers"]]

    @property
    def layer_sizes(self) -> list[int]:
        return [int(layer["size"]) for layer in self.manifest["layers"]]

    @property
    def config_digest(self) -> str:
        return str(self.manifest["config"]["digest"])

    @property
    def diff_ids(self) -> list[str]:
        return list(self.config["rootfs"]["diff_ids"])

    @property
    def manifest_bytes(self) -> bytes:
        return self.blob(self.manifest_digest)


def read_layout_manifest(layout: Path, tag: str) -> tuple[str, dict[str, Any]]:
    index = json.loads((layout / "index.json").read_text())
    for desc in index["manifests"]:
        if desc.get("annotations", {}).get("org.opencontainers.image.ref.name") == tag:
            algo, hexd = desc["digest"].split(":", 1)
            return desc["digest"], json.loads((layout / "blobs" / algo / hexd).read_bytes())
    raise AssertionError(f"tag {tag} not in {layout}/index.json")


def single_manifest_digest_of_layout(layout: Path) -> str:
    index = json.loads((layout / "index.json").read_text())
    assert len(index["manifests"]) == 1, index
    return str(index["manifests"][0]["digest"])


def build_umoci_image(
    workdir: Path,
    *,
    tag: str = "v1",
    files: dict[str, bytes] | None = None,
    random_bytes: int = 0,
    cmd: str = "/hello",
) -> OciLayoutImage:
    """An OCI layout built with umoci: a couple of files in one layer, and config.cmd set."""
    umoci = require_tool("umoci")
    workdir.mkdir(parents=True, exist_ok=True)
    layout = workdir / "layout"
    bundle = workdir / "bundle"
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(workdir), "TMPDIR": str(workdir)}
    content = (
        dict(files)
        if files is not None
        else {
            "hello": b"#!/bin/sh\necho hello from shipshape e2e\n",
            "etc/app.conf": b"greeting=hello\n",
        }
    )
    content["id"] = uuid.uuid4().hex.encode()  # every image made here is distinct
    if random_bytes:
        content["payload.bin"] = os.urandom(random_bytes)

    run([umoci, "init", "--layout", str(layout)], env=env)
    run([umoci, "new", "--image", f"{layout}:{tag}"], env=env)
    run([umoci, "unpack", "--rootless", "--image", f"{layout}:{tag}", str(bundle)], env=env)
    rootfs = bundle / "rootfs"
    for rel, data in content.items():
        target = rootfs / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        target.chmod(0o755 if rel == "hello" else 0o644)
    run([umoci, "repack", "--image", f"{layout}:{tag}", str(bundle)], env=env)
    run([umoci, "config", "--image", f"{layout}:{tag}", "--config.cmd", cmd], env=env)
    run([umoci, "gc", "--layout", str(layout)], env=env)
    shutil.rmtree(bundle, ignore_errors=True)

    digest, manifest = read_layout_manifest(layout, tag)
    config = json.loads((layout / "blobs" / "sha256" / manifest["config"]["digest"].split(":", 1)[1]).read_bytes())
    return OciLayoutImage(
        layout=layout, tag=tag, manifest_digest=digest, manifest=manifest, config=config, files=content
    )


def _tar_gz_layer(files: dict[str, bytes]) -> tuple[bytes, str]:
    """A deterministic gzip'd tar layer; returns (compressed bytes, diff_id)."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in sorted(files.items()):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o755 if name == "hello" else 0o644
            info.mtime = 1_700_000_000
            info.uname = info.gname = "root"
            tar.addfile(info, io.BytesIO(data))
    tar_bytes = raw.getvalue()
    gz = gzip.compress(tar_bytes, compresslevel=6, mtime=0)
    return gz, sha256_digest(tar_bytes)


@dataclass
class PlatformChild:
    os: str
    architecture: str
    manifest_digest: str
    manifest_size: int
    config_digest: str
    layer_digest: str
    diff_id: str
    marker: bytes


@dataclass
class MultiArchLayout:
    layout: Path
    tag: str
    index_digest: str
    index_bytes: bytes
    children: dict[str, PlatformChild]  # by architecture

    @property
    def ref(self) -> str:
        return f"oci:{self.layout}:{self.tag}"


def build_multiarch_layout(
    layout: Path, *, tag: str = "v1", architectures: tuple[str, ...] = ("amd64", "arm64")
) -> MultiArchLayout:
    """An OCI image index written by hand: one child manifest per linux platform."""
    blobs = layout / "blobs" / "sha256"
    blobs.mkdir(parents=True, exist_ok=True)
    nonce = uuid.uuid4().hex

    def put(data: bytes) -> tuple[str, int]:
        digest = sha256_digest(data)
        (blobs / digest.split(":", 1)[1]).write_bytes(data)
        return digest, len(data)

    children: dict[str, PlatformChild] = {}
    descriptors = []
    for arch in architectures:
        marker = f"built for linux/{arch} ({nonce})\n".encode()
        layer, diff_id = _tar_gz_layer({"hello": b"#!/bin/sh\necho hi\n", "platform.txt": marker})
        layer_digest, layer_size = put(layer)
        config = {
            "created": "2024-01-01T00:00:00Z",
            "architecture": arch,
            "os": "linux",
            "config": {"Cmd": ["/hello"], "Env": ["PATH=/"]},
            "rootfs": {"type": "layers", "diff_ids": [diff_id]},
            "history": [{"created": "2024-01-01T00:00:00Z", "created_by": "shipshape e2e"}],
        }
        config_digest, config_size = put(json.dumps(config, sort_keys=True).encode())
        manifest = {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": config_digest, "size": config_size},
            "layers": [{"mediaType": OCI_LAYER_GZIP, "digest": layer_digest, "size": layer_size}],
        }
        manifest_digest, manifest_size = put(json.dumps(manifest, sort_keys=True).encode())
        descriptors.append(
            {
                "mediaType": OCI_MANIFEST,
                "digest": manifest_digest,
                "size": manifest_size,
                "platform": {"architecture": arch, "os": "linux"},
            }
        )
        children[arch] = PlatformChild(
            os="linux",
            architecture=arch,
            manifest_digest=manifest_digest,
            manifest_size=manifest_size,
            config_digest=config_digest,
            layer_digest=layer_digest,
            diff_id=diff_id,
            marker=marker,
        )

    index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": descriptors}
    index_bytes = json.dumps(index, sort_keys=True).encode()
    index_digest, index_size = put(index_bytes)
    (layout / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    (layout / "index.json").write_text(
        json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": OCI_INDEX,
                "manifests": [
                    {
                        "mediaType": OCI_INDEX,
                        "digest": index_digest,
                        "size": index_size,
                        "annotations": {"org.opencontainers.image.ref.name": tag},
                    }
                ],
            }
        )
    )
    return MultiArchLayout(
        layout=layout, tag=tag, index_digest=index_digest, index_bytes=index_bytes, children=children
    )


# --------------------------------------------------------------------------------------------------
# deterministic large data for streaming uploads


class BigData:
    """``total`` bytes made of ``chunk``-sized pieces, each distinct, reproducible on demand."""

    def __init__(self, total: int, chunk: int = 1 << 20, seed: int = 0) -> None:
        assert total % chunk == 0
        self.total = total
        self.chunk_size = chunk
        import random

        self._base = random.Random(seed).randbytes(chunk)

    @property
    def chunks(self) -> int:
        return self.total // self.chunk_size

    def chunk(self, i: int) -> bytes:
        return i.to_bytes(8, "big") + self._base[8:]

    def iter_chunks(self) -> Iterator[bytes]:
        for i in range(self.chunks):
            yield self.chunk(i)

    def prefix_digest(self, length: int) -> str:
        h = hashlib.sha256()
        remaining = length
        for i in range(self.chunks):
            if remaining <= 0:
                break
            piece = self.chunk(i)[:remaining]
            h.update(piece)
            remaining -= len(piece)
        return "sha256:" + h.hexdigest()

    @property
    def digest(self) -> str:
        return self.prefix_digest(self.total)

    def is_nonempty_prefix(self, path: Path) -> bool:
        """True when the file's bytes are a non-empty prefix of this data (the whole of it included)."""
        size = path.stat().st_size
        if size == 0 or size > self.total:
            return False
        with open(path, "rb") as f:
            for i in range(self.chunks):
                expected = self.chunk(i)
                got = f.read(len(expected))
                if not got:
                    return True
                if got != expected[: len(got)]:
                    return False
                if len(got) < len(expected):
                    return True
        return True


def largest_file_size(root: Path) -> int:
    best = 0
    if not root.exists():
        return 0
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            try:
                best = max(best, os.stat(os.path.join(dirpath, name)).st_size)
            except OSError:
                continue  # renamed or removed while we looked
    return best


def regular_files(root: Path) -> list[Path]:
    return [Path(d) / n for d, _dirs, files in os.walk(root) for n in files if (Path(d) / n).is_file()]
