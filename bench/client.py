"""A minimal OCI distribution client for benchmarking, built on ``http.client``.

Blob bodies are sent with sendfile(2) straight from the data file, and pulled blobs are discarded in the
kernel (recv with MSG_TRUNC), so the client stays far faster than the servers under test (see
``client_ceiling``, which runs the same code against a do-nothing server).
Each ``Registry`` keeps one keep-alive connection, like docker and podman do for an upload.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import io
import json
import os
import socket
import threading
import time
from dataclasses import dataclass
from urllib.parse import quote, urlsplit

from blobdata import Blob

OCTET_STREAM = "application/octet-stream"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
_READ_BUFFER = 1 << 20


class RegistryError(RuntimeError):
    """The registry answered with an unexpected status or headers."""


@dataclass(frozen=True)
class Response:
    status: int
    headers: http.client.HTTPMessage
    body: bytes


@dataclass(frozen=True)
class BodyRange:
    """Bytes ``[start, end)`` of a blob, as the body of one request."""

    blob: Blob
    start: int
    end: int


class Registry:
    """One keep-alive HTTP/1.1 connection to a registry at ``host:port``."""

    def __init__(self, host: str, port: int, timeout: float = 300.0, authorization: str | None = None) -> None:
        self.host = host
        self.port = port
        self.authorization = authorization  # sent as the Authorization header of every request
        self.conn = http.client.HTTPConnection(host, port, timeout=timeout)

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> Registry:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def send(
        self, method: str, path: str, headers: dict[str, str], body: bytes | BodyRange | None
    ) -> http.client.HTTPResponse:
        try:
            self._write_request(method, path, headers, body)
        except OSError as exc:  # the server may have answered (and closed) before taking the whole body
            try:
                early = self.conn.getresponse()
                detail = f"HTTP {early.status} before the body was sent: {early.read()[:300]!r}"
            except Exception:
                raise exc from None
            raise RegistryError(f"{method} {_short(path)}: {detail}") from exc
        return self.conn.getresponse()

    def _write_request(
        self, method: str, path: str, headers: dict[str, str], body: bytes | BodyRange | None
    ) -> socket.socket:
        """Send a request (head with http.client, a blob body with sendfile); return the socket."""
        if self.conn.sock is None:
            self.conn.connect()
            assert self.conn.sock is not None
            self.conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.conn.putrequest(method, path, skip_accept_encoding=True)
        if self.authorization is not None:
            self.conn.putheader("Authorization", self.authorization)
        for name, value in headers.items():
            self.conn.putheader(name, value)
        if isinstance(body, BodyRange):
            self.conn.putheader("Content-Length", str(body.end - body.start))
        elif body is not None or method in ("POST", "PUT", "PATCH"):
            self.conn.putheader("Content-Length", str(len(body or b"")))
        self.conn.endheaders()
        if isinstance(body, BodyRange):
            assert self.conn.sock is not None
            body.blob.send(self.conn.sock, body.start, body.end)
        elif body:
            self.conn.send(body)
        assert self.conn.sock is not None
        sock: socket.socket = self.conn.sock
        return sock

    def request(
        self,
        method: str,
        path: str,
        headers: dict[str, str] | None = None,
        body: bytes | BodyRange | None = None,
        expect: int = 200,
    ) -> Response:
        """Send one request, read the (small) response body, and check the status."""
        resp = self.send(method, path, headers or {}, body)
        data = resp.read()
        if resp.status != expect:
            raise RegistryError(f"{method} {_short(path)}: HTTP {resp.status} (want {expect}): {data[:300]!r}")
        return Response(resp.status, resp.headers, data)

    def download(self, path: str, headers: dict[str, str] | None = None, max_redirects: int = 3) -> int:
        """GET ``path`` and discard the body; return how many body bytes arrived.

        http.client's buffered reader tops out near the loopback speed of a small VM, so the response head
        is parsed here and the body is discarded in the kernel (recv with MSG_TRUNC: counted, not copied).
        The connection is closed afterwards, as http.client no longer knows its state.
        """
        try:
            for _ in range(max_redirects + 1):
                sock = self._write_request("GET", path, headers or {}, None)
                status, resp_headers, leftover = _read_head(sock)
                length = resp_headers.get("Content-Length")
                if length is None or not length.isdigit():
                    raise RegistryError(f"GET {_short(path)}: HTTP {status} without a Content-Length")
                if status in (301, 302, 303, 307, 308):
                    _discard(sock, int(length) - len(leftover))
                    path = self.location_path(resp_headers)
                    continue
                if status != 200:
                    raise RegistryError(f"GET {_short(path)}: HTTP {status}")
                return len(leftover) + _discard(sock, int(length) - len(leftover))
            raise RegistryError(f"GET {_short(path)}: more than {max_redirects} redirects")
        finally:
            self.conn.close()

    def location_path(self, headers: http.client.HTTPMessage) -> str:
        """The path and query of a Location header, which must point back at this registry."""
        location = headers.get("Location")
        if not location:
            raise RegistryError("response has no Location header")
        parts = urlsplit(location)
        if parts.netloc and parts.netloc not in (f"{self.host}:{self.port}", f"localhost:{self.port}"):
            raise RegistryError(f"Location {location!r} points away from {self.host}:{self.port}")
        return parts.path + (f"?{parts.query}" if parts.query else "")


def _short(path: str) -> str:
    """A path for error messages: without the (long, opaque) query string."""
    return path.split("?", 1)[0] + ("?…" if "?" in path else "")


def _read_head(sock: socket.socket, limit: int = 1 << 16) -> tuple[int, http.client.HTTPMessage, bytes]:
    """Read a response head from ``sock``: (status, headers, body bytes that came with it)."""
    data = b""
    while b"\r\n\r\n" not in data:
        if len(data) > limit:
            raise RegistryError(f"response head longer than {limit} bytes")
        chunk = sock.recv(65536)
        if not chunk:
            raise RegistryError("connection closed before the response head ended")
        data += chunk
    head, _, leftover = data.partition(b"\r\n\r\n")
    status_line, _, header_block = head.partition(b"\r\n")
    parts = status_line.split(b" ", 2)
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/1.") or not parts[1].isdigit():
        raise RegistryError(f"bad status line {status_line[:100]!r}")
    headers = http.client.parse_headers(io.BytesIO(header_block + b"\r\n\r\n"))
    return int(parts[1]), headers, leftover


def _discard(sock: socket.socket, count: int) -> int:
    """Receive and drop ``count`` bytes without copying them to user space; return how many came."""
    view = memoryview(bytearray(_READ_BUFFER))
    received = 0
    while received < count:
        n = sock.recv_into(view, min(count - received, len(view)), socket.MSG_TRUNC)
        if n == 0:
            break
        received += n
    return received


def _with_digest(location: str, digest: str) -> str:
    return f"{location}{'&' if '?' in location else '?'}digest={quote(digest, safe='')}"


def _check_digest(resp: Response, digest: str) -> None:
    got = resp.headers.get("Docker-Content-Digest")
    if got is not None and got != digest:
        raise RegistryError(f"registry computed {got}, client sent {digest}")


def start_upload(reg: Registry, repo: str) -> str:
    """POST /v2/<repo>/blobs/uploads/ and return the upload's Location path."""
    resp = reg.request("POST", f"/v2/{repo}/blobs/uploads/", expect=202)
    return reg.location_path(resp.headers)


def push_monolithic(reg: Registry, repo: str, blob: Blob) -> None:
    """POST, then one PUT ?digest= carrying the whole body."""
    location = start_upload(reg, repo)
    body = BodyRange(blob, 0, blob.size)
    resp = reg.request("PUT", _with_digest(location, blob.digest), {"Content-Type": OCTET_STREAM}, body, expect=201)
    _check_digest(resp, blob.digest)


def push_patch_put(reg: Registry, repo: str, blob: Blob) -> None:
    """The docker/podman way: POST, one PATCH with the whole body, then an empty PUT ?digest=."""
    push_chunked(reg, repo, blob, chunk_size=blob.size)


def push_chunked(reg: Registry, repo: str, blob: Blob, chunk_size: int) -> None:
    """POST, PATCH chunks with Content-Range (following Location each time), then an empty PUT ?digest=."""
    location = start_upload(reg, repo)
    offset = 0
    max_chunks = blob.size // chunk_size + 1
    for _ in range(max_chunks):
        if offset >= blob.size:
            break
        end = min(offset + chunk_size, blob.size)
        headers = {"Content-Type": OCTET_STREAM, "Content-Range": f"{offset}-{end - 1}"}
        resp = reg.request("PATCH", location, headers, BodyRange(blob, offset, end), expect=202)
        _check_range(resp, end)
        location = reg.location_path(resp.headers)
        offset = end
    if offset != blob.size:
        raise RegistryError(f"chunked upload stopped at {offset} of {blob.size} bytes")
    resp = reg.request("PUT", _with_digest(location, blob.digest), expect=201)
    _check_digest(resp, blob.digest)


def _check_range(resp: Response, end: int) -> None:
    got = resp.headers.get("Range")
    if got is not None and got != f"0-{end - 1}":
        raise RegistryError(f"after a PATCH ending at byte {end - 1} the registry reports Range {got}")


def pull_blob(reg: Registry, repo: str, blob: Blob) -> None:
    """GET the blob, discard it, and check the byte count."""
    received = reg.download(f"/v2/{repo}/blobs/{blob.digest}")
    if received != blob.size:
        raise RegistryError(f"pulled {received} bytes, want {blob.size}")


def verify_blob(reg: Registry, repo: str, blob: Blob) -> None:
    """GET the blob and check its SHA-256 (untimed: hashing would slow the client down)."""
    resp = reg.send("GET", f"/v2/{repo}/blobs/{blob.digest}", {}, None)
    if resp.status != 200:
        raise RegistryError(f"GET blob {blob.digest}: HTTP {resp.status}")
    state = hashlib.sha256()
    while chunk := resp.read(_READ_BUFFER):
        state.update(chunk)
    if "sha256:" + state.hexdigest() != blob.digest:
        raise RegistryError(f"blob {blob.digest} came back with sha256:{state.hexdigest()}")


def push_bytes(reg: Registry, repo: str, data: bytes) -> str:
    """Push a small in-memory blob (POST + PUT) and return its digest."""
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    location = start_upload(reg, repo)
    reg.request("PUT", _with_digest(location, digest), {"Content-Type": OCTET_STREAM}, data, expect=201)
    return digest


def push_small_image(reg: Registry, repo: str, tag: str) -> bytes:
    """Push a config blob, one 4 KiB layer and an OCI image manifest under ``tag``; return the manifest."""
    layer = os.urandom(4096)
    layer_digest = push_bytes(reg, repo, layer)
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "config": {"Cmd": ["/bin/true"]},
            "rootfs": {"type": "layers", "diff_ids": [layer_digest]},
        }
    ).encode()
    config_digest = push_bytes(reg, repo, config)
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": config_digest, "size": len(config)},
            "layers": [{"mediaType": OCI_LAYER, "digest": layer_digest, "size": len(layer)}],
        }
    ).encode()
    reg.request("PUT", f"/v2/{repo}/manifests/{tag}", {"Content-Type": OCI_MANIFEST}, manifest, expect=201)
    return manifest


def check_manifest(reg: Registry, repo: str, tag: str, manifest: bytes) -> None:
    """GET the manifest once, as wrk will, and check body, media type and digest header."""
    resp = reg.request("GET", f"/v2/{repo}/manifests/{tag}", {"Accept": OCI_MANIFEST})
    if resp.body != manifest:
        raise RegistryError("manifest GET returned different bytes than were pushed")
    media_type = (resp.headers.get("Content-Type") or "").split(";")[0]
    if media_type != OCI_MANIFEST:
        raise RegistryError(f"manifest GET returned Content-Type {media_type!r}")
    _check_digest(resp, "sha256:" + hashlib.sha256(manifest).hexdigest())


# --- client ceiling: the same client code against a trivial in-process sink/source ---------------------


class _Sink(threading.Thread):
    """A tiny HTTP/1.1 server that discards PUT bodies and answers GET with ``blob`` (sendfile)."""

    def __init__(self, blob: Blob, max_connections: int = 4, timeout: float = 120.0) -> None:
        super().__init__(daemon=True)
        self.blob = blob
        self.max_connections = max_connections
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(timeout)
        self.port: int = self.listener.getsockname()[1]
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            for _ in range(self.max_connections):
                try:
                    conn, _addr = self.listener.accept()
                except OSError:  # timeout, or close() shut the listener down
                    return
                with conn:
                    self._serve(conn)
        except BaseException as exc:  # reported by the caller
            self.error = exc

    def _serve(self, conn: socket.socket, max_requests: int = 16) -> None:
        pending = b""
        for _ in range(max_requests):
            while b"\r\n\r\n" not in pending:
                data = conn.recv(65536)
                if not data:
                    return
                pending += data
            head, _, pending = pending.partition(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            method = lines[0].split(" ")[0]
            length = next(
                (
                    int(v)
                    for k, _, v in (ln.partition(":") for ln in lines[1:])
                    if k.strip().lower() == "content-length"
                ),
                0,
            )
            remaining = length - len(pending)
            pending = b""
            if _discard(conn, remaining) < remaining:
                return
            if method == "GET":
                conn.sendall(f"HTTP/1.1 200 OK\r\nContent-Length: {self.blob.size}\r\n\r\n".encode())
                self.blob.send(conn)
            else:
                conn.sendall(b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n")

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.listener.shutdown(socket.SHUT_RDWR)  # wakes the thread blocked in accept()
        self.listener.close()
        self.join(timeout=10)


def client_ceiling(blob: Blob) -> tuple[float, float]:
    """(push, pull) MB/s of this client against a do-nothing server: an upper bound for any measurement."""
    sink = _Sink(blob)
    sink.start()
    try:
        with Registry("127.0.0.1", sink.port) as reg:
            t0 = time.perf_counter()
            reg.request("PUT", "/sink", {}, BodyRange(blob, 0, blob.size), expect=201)
            push = blob.size / (time.perf_counter() - t0) / 1e6
            t0 = time.perf_counter()
            received = reg.download("/source")
            pull = received / (time.perf_counter() - t0) / 1e6
        if received != blob.size:
            raise RegistryError(f"sink sent {received} bytes, want {blob.size}")
    finally:
        sink.close()
    if sink.error is not None:
        raise RegistryError(f"sink failed: {sink.error!r}")
    return push, pull
