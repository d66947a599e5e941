"""Every request gets an answer: raw bytes over a socket, in every header and path position, on every route of a
real `shipshape serve --auth`, are answered 2xx/3xx or 4xx with a JSON error body; never a 5xx, never a dropped
connection; and the server keeps serving.

The requests are written byte by byte (no HTTP client: those refuse or clean up the very bytes under test). The
routes are read from the application's router, so a new route is fuzzed without being listed here.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import socket
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shipshape.app import build_app
from shipshape.config import Settings

from .auth_support import ADMIN, auth_server, log_records, private_dir, strong_password
from .support import TARGET_SHIPSHAPE, RegistryServer, selected_target

pytestmark = pytest.mark.skipif(selected_target() != TARGET_SHIPSHAPE, reason="shipshape's own error answers")

REGISTRY = "fuzz"
REPOSITORY = f"{REGISTRY}/app"
SOCKET_TIMEOUT = 15.0  # seconds for one answer; far above any real one, so only a hang reaches it
# Per route class; SHIPSHAPE_FUZZ_EXAMPLES=5000 for a deeper run than CI can afford.
EXAMPLES = int(os.environ.get("SHIPSHAPE_FUZZ_EXAMPLES", "200"))


# --------------------------------------------------------------------------------------------------
# raw HTTP


@dataclass(frozen=True)
class Answer:
    version: bytes
    status: int
    headers: dict[str, str]
    body: bytes


def exchange(port: int, raw: bytes) -> Answer | None:
    """Send `raw` on a fresh connection and read until the server closes it; None if it closed without a word."""
    with socket.create_connection(("127.0.0.1", port), timeout=SOCKET_TIMEOUT) as sock:
        sock.sendall(raw)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    if not data:
        return None
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *lines = head.split(b"\r\n")
    version, status, *_ = status_line.split(b" ", 2)
    headers: dict[str, str] = {}
    for line in lines:
        name, _, value = line.partition(b":")
        headers[name.strip().lower().decode("latin-1")] = value.strip().decode("latin-1")
    if headers.get("transfer-encoding") == "chunked":
        body = _dechunk(body)
    return Answer(version, int(status), headers, body)


def _dechunk(data: bytes) -> bytes:
    body = b""
    while data:
        size_line, _, data = data.partition(b"\r\n")
        size = int(size_line.split(b";")[0], 16)
        if size == 0:
            break
        body, data = body + data[:size], data[size + 2 :]
    return body


def request_bytes(method: bytes, target: bytes, headers: list[tuple[bytes, bytes]], body: bytes) -> bytes:
    lines = [method + b" " + target + b" HTTP/1.1", b"Connection: close"]
    lines += [name + b": " + value for name, value in headers]
    if body or method in (b"POST", b"PUT", b"PATCH"):
        lines.append(b"Content-Length: " + str(len(body)).encode())
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


def basic(username: str, secret: str) -> bytes:
    return b"Basic " + base64.b64encode(f"{username}:{secret}".encode())


# --------------------------------------------------------------------------------------------------
# the server, its routes and its seed


@dataclass
class World:
    server: RegistryServer
    authorizations: dict[str, bytes]  # who -> a working Authorization value
    values: dict[str, str]  # path parameter -> a value that names something that exists
    logged_before: int = 0
    parser_refusals: list[bytes] = field(default_factory=list)

    @property
    def port(self) -> int:
        return self.server.port


@dataclass(frozen=True)
class Route:
    method: str
    name: str
    formatter: str  # e.g. /v2/{name}/manifests/{reference}


def app_routes() -> list[Route]:
    """Every route of the application as built for `serve --auth` (the management API's included)."""
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp) / "data"
        data_dir.mkdir()
        app = build_app(Settings(data_dir=data_dir, auth=True))
        routes = []
        for route in app.router.routes():
            info = route.resource.get_info() if route.resource is not None else {}
            formatter = info.get("formatter") or info.get("path")
            if isinstance(formatter, str):
                routes.append(Route(route.method, route.name or "", formatter))
    return routes


ROUTES = app_routes()


def routes_under(*prefixes: str) -> list[Route]:
    return [route for route in ROUTES if route.formatter.startswith(prefixes)]


ROUTE_CLASSES = {
    "oci": routes_under("/v2"),
    "manage": routes_under("/api/"),
    "token": routes_under("/auth/"),
    "operations": routes_under("/healthz", "/metrics"),
}


# The web console answers with HTML pages and redirects, not JSON errors: its walls (sessions, form tokens, bad
# addresses) are tested in tests/http/test_console_guard.py and tests/e2e/test_console*.py, not fuzzed here yet.
CONSOLE_ROUTES = {route for route in ROUTES if route.name.startswith("console.")}


def test_every_route_belongs_to_a_fuzzed_class() -> None:
    fuzzed = {route for routes in ROUTE_CLASSES.values() for route in routes}
    assert set(ROUTES) - CONSOLE_ROUTES == fuzzed, f"routes no class fuzzes: {set(ROUTES) - CONSOLE_ROUTES - fuzzed}"
    assert all(ROUTE_CLASSES.values())


def _seed(server: RegistryServer, admin_password: str) -> World:
    """A registry with one image and one upload, a CI credential for it, and a bearer token."""
    admin = {"Authorization": basic(ADMIN, admin_password).decode()}
    api = f"{server.url}/api/v1"
    created = requests.post(f"{api}/registries", json={"name": REGISTRY, "environment": "development"}, headers=admin)
    assert created.status_code == 201, created.text
    issued = requests.post(
        f"{api}/credentials",
        json={"name": "ci", "registries": [REGISTRY], "kind": "ci", "actions": ["pull", "push", "delete"]},
        headers=admin,
    )
    assert issued.status_code == 201, issued.text
    username, secret = issued.json()["username"], issued.json()["secret"]
    ci = {"Authorization": basic(username, secret).decode()}

    layer = b"fuzz layer"
    digest = "sha256:" + hashlib.sha256(layer).hexdigest()
    pushed = requests.post(f"{server.url}/v2/{REPOSITORY}/blobs/uploads/?digest={digest}", data=layer, headers=ci)
    assert pushed.status_code == 201, pushed.text
    config = b"{}"
    config_digest = "sha256:" + hashlib.sha256(config).hexdigest()
    assert requests.post(
        f"{server.url}/v2/{REPOSITORY}/blobs/uploads/?digest={config_digest}", data=config, headers=ci
    ).ok
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest, "size": 2},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": digest, "size": len(layer)}],
    }
    put = requests.put(
        f"{server.url}/v2/{REPOSITORY}/manifests/v1",
        data=json.dumps(manifest),
        headers={**ci, "Content-Type": "application/vnd.oci.image.manifest.v1+json"},
    )
    assert put.status_code == 201, put.text
    started = requests.post(f"{server.url}/v2/{REPOSITORY}/blobs/uploads/", headers=ci)
    assert started.status_code == 202, started.text
    token = requests.get(
        f"{server.url}/auth/token",
        params={"service": "shipshape", "scope": f"repository:{REPOSITORY}:pull,push,delete"},
        headers=ci,
    )
    assert token.status_code == 200, token.text
    return World(
        server=server,
        authorizations={
            "admin": admin["Authorization"].encode(),
            "ci": ci["Authorization"].encode(),
            "bearer": b"Bearer " + token.json()["token"].encode(),
        },
        values={
            "name": REPOSITORY,
            "reference": "v1",
            "digest": digest,
            "upload_id": started.headers["Docker-Upload-UUID"],
            "username": username,
            "id": "1",
        },
    )


@pytest.fixture(scope="module")
def world() -> Iterator[World]:
    admin_password = strong_password()
    with private_dir("ssraw-") as workdir, auth_server(workdir, admin_password) as server:
        yield _seed(server, admin_password)


def path_of(route: Route, world: World) -> str:
    def value(match: re.Match[str]) -> str:
        parameter = match.group(1)
        if parameter == "name" and not route.formatter.startswith("/v2"):
            return REGISTRY  # the management API names registries, the OCI API repositories
        return world.values[parameter]

    return re.sub(r"\{(\w+)\}", value, route.formatter)


# --------------------------------------------------------------------------------------------------
# what may be sent

# Bytes that have broken servers before: NUL and other controls, DEL, Latin-1 and UTF-8 letters, bytes that are
# never UTF-8, quotes and backslashes (header quoting), separators, and a lone surrogate's UTF-8-ish encoding.
CONTROLS_AND_ENCODINGS = [
    b"\x00",
    b"\x01",
    b"\x1b",
    b"\x7f",
    b"\xe9",
    b"\xc3\xa9",
    b"\xff",
    b"\xfe\xff",
    b"\xed\xa0\x80",
]
SEPARATORS = [b'"', b"\\", b"'", b"%", b";", b",", b"=", b":", b"*", b" ", b"\t", b"\xe2\x80\xa8", b"{", b"}"]
ODD = st.one_of(st.sampled_from([*CONTROLS_AND_ENCODINGS, b"\x80", *SEPARATORS]), st.binary(min_size=1, max_size=12))
# Percent-encoded forms for the path and query, where raw CR/LF would end the request line itself.
PERCENT = st.sampled_from(
    [b"%00", b"%0a", b"%0d%0a", b"%7f", b"%e9", b"%c3%a9", b"%ff", b"%2f", b"%2e%2e", b"%", b"%zz", b"%25", b"%20"]
)
HEADER_NAMES = [
    b"Authorization",
    b"Host",
    b"Accept",
    b"Content-Type",
    b"Range",
    b"Origin",
    b"Sec-Fetch-Site",
    b"User-Agent",
    b"If-None-Match",
    b"X-Forwarded-For",
    b"Cookie",
    b"Docker-Content-Digest",
]


PLACES = [
    *["path"] * 4,
    "path-raw",
    *["query"] * 2,
    *["header"] * 3,
    *["authorization"] * 3,
    *["credentials"] * 2,
    "name",
    "method",
]


def _without_framing(value: bytes) -> bytes:
    # A raw CR or LF ends the header line: that tests the HTTP parser's framing, not what the registry reads.
    return value.replace(b"\r", b"").replace(b"\n", b"")


@st.composite
def odd_request(draw: st.DrawFn, routes: list[Route], world: World) -> tuple[str, bytes]:
    """One request to one of `routes`, with odd bytes in one or more places; returns (what, raw request)."""
    route = draw(st.sampled_from(routes))
    method = route.method.encode()
    segments = path_of(route, world).encode().split(b"/")
    query = b""
    who = draw(st.sampled_from(["nobody", "admin", "ci", "bearer"]))
    headers: list[tuple[bytes, bytes]] = [(b"Host", b"127.0.0.1")]
    if who != "nobody":
        headers.append((b"Authorization", world.authorizations[who]))
    body = b""
    if method in (b"POST", b"PUT", b"PATCH"):
        body = draw(st.one_of(st.just(b"{}"), st.binary(max_size=64), ODD))
        headers.append((b"Content-Type", draw(st.sampled_from([b"application/json", b"application/octet-stream"]))))
    # Weighted towards what the registry's own code reads; most raw bytes in a header name or the request line
    # only meet aiohttp's parser (which refuses them with a 400 of its own).
    places = draw(st.lists(st.sampled_from(PLACES), min_size=1, max_size=2))
    for place in places:
        odd = draw(ODD)
        if place in ("path", "path-raw"):
            index = draw(st.integers(1, len(segments) - 1))
            piece = draw(PERCENT) if place == "path" else _without_framing(odd).replace(b" ", b"") or b"\x00"
            at = draw(st.integers(0, len(segments[index])))
            segments[index] = segments[index][:at] + piece + segments[index][at:]
        elif place == "query":
            query = b"?" + draw(st.sampled_from([b"n", b"last", b"scope", b"service", b"digest", b"mount", b"x"]))
            query += b"=" + draw(st.one_of(PERCENT, ODD.map(lambda b: _without_framing(b).replace(b" ", b"+"))))
        elif place == "header":
            name = draw(st.sampled_from(HEADER_NAMES))
            headers = [(n, v) for n, v in headers if n.lower() != name.lower()]
            headers.append((name, _without_framing(draw(st.binary(max_size=4)) + odd)))
        elif place == "authorization":
            scheme = draw(st.sampled_from([b"Basic ", b"Bearer ", b"basic ", b"BEARER ", b"Digest ", b"", b"Basic"]))
            headers = [(n, v) for n, v in headers if n != b"Authorization"]
            headers.append((b"Authorization", scheme + _without_framing(odd)))
        elif place == "credentials":
            # Well-formed base64 around bytes that are not a valid username:secret (Latin-1, NUL, no colon, ...).
            user = draw(st.one_of(st.sampled_from([b"admin", world.values["username"].encode(), b""]), ODD))
            decoded = user + draw(st.sampled_from([b":", b"", b"::"])) + draw(ODD)
            headers = [(n, v) for n, v in headers if n != b"Authorization"]
            headers.append((b"Authorization", b"Basic " + base64.b64encode(decoded)))
        elif place == "name":
            headers.append((_without_framing(odd).replace(b":", b"") or b"\x00", b"x"))
        else:
            method = draw(st.sampled_from([method.lower(), b"FOO", b"OPTIONS", b"TRACE", b"PUT", b"DELETE"]))
    target = b"/".join(segments) + query
    return f"{route.method} {route.formatter} as {who}, odd in {places}", request_bytes(method, target, headers, body)


# --------------------------------------------------------------------------------------------------
# what must come back


def _is_parser_refusal(answer: Answer) -> bool:
    """aiohttp's HTTP parser answers a request it cannot parse (bad bytes in the request line or a header name)
    with its own text/plain 400, before any of the registry's code runs: a refusal, not a failure."""
    return (
        answer.status == 400
        and answer.version == b"HTTP/1.0"
        and answer.headers["content-type"].startswith("text/plain")
    )


def error_code_of(body: bytes) -> str | None:
    """The code of an OCI error body (`{"errors": [{"code": …}]}`) or a management API one (`{"error": {…}}`)."""
    error = json.loads(body)
    if isinstance(error.get("errors"), list) and error["errors"]:
        return str(error["errors"][0]["code"])
    if isinstance(error.get("error"), dict):
        return str(error["error"]["code"])
    return None


def check_answer(world: World, what: str, raw: bytes) -> None:
    answer = exchange(world.port, raw)
    assert answer is not None, f"connection closed without an answer: {what}\n{raw!r}"
    assert answer.status < 500, f"{answer.status} for {what}\n{raw!r}\n{answer.body[:500]!r}"
    if 400 <= answer.status < 500 and not raw.startswith(b"HEAD "):
        if _is_parser_refusal(answer):
            world.parser_refusals.append(raw)
        else:
            assert answer.headers.get("content-type", "").startswith("application/json"), (what, raw, answer)
            assert error_code_of(answer.body), (what, raw, answer)
    if answer.status == 401:
        assert "www-authenticate" in answer.headers, (what, raw, answer)
    health = exchange(world.port, b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
    assert health is not None and health.status == 200, f"the server stopped serving after {what}\n{raw!r}"


def unexpected_errors(world: World) -> list[str]:
    """Errors the server logged (unhandled exceptions, 500s) since fuzzing began, but for aiohttp's note of each
    request its HTTP parser refused (an `aiohttp.http_exceptions` error, answered as `_is_parser_refusal` says)."""
    records = log_records(world.server)[world.logged_before :]
    return [
        f"{r.get('message')}: {str(r.get('exception', ''))[-600:]}"
        for r in records
        if r.get("level") == "error" and "aiohttp.http_exceptions." not in str(r.get("exception", ""))
    ]


def _fuzz(world: World, routes: list[Route]) -> None:
    world.logged_before = len(log_records(world.server))

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    )
    @given(st.data())
    def run(data: st.DataObject) -> None:
        what, raw = data.draw(odd_request(routes, world))
        check_answer(world, what, raw)

    run()
    assert not unexpected_errors(world), "\n".join(unexpected_errors(world))


@pytest.mark.parametrize("route_class", sorted(ROUTE_CLASSES))
def test_odd_bytes_anywhere_get_an_answer(world: World, route_class: str) -> None:
    _fuzz(world, ROUTE_CLASSES[route_class])


# --------------------------------------------------------------------------------------------------
# the cases that were answered 500 or not at all, byte for byte


def _get(path: bytes, authorization: bytes | None = None) -> bytes:
    headers = [(b"Host", b"127.0.0.1")] + ([(b"Authorization", authorization)] if authorization is not None else [])
    return request_bytes(b"GET", path, headers, b"")


@pytest.mark.parametrize(
    "authorization",
    [b"Basic \xe9\xe9\xe9", b"Basic \xc3\xa9abc", b"Basic \xff\xfe", b"Bearer \xe9\xe9\xe9", b"Bearer \xc3\xa9"]
    + [b"Basic " + base64.b64encode(raw) for raw in (b"adm\xe9n:pw", b"admin:\xff", b"adm\x00in:pw", b"\xc3:x")],
)
@pytest.mark.parametrize("path", [b"/v2/", b"/v2/fuzz/app/manifests/v1", b"/auth/token", b"/api/v1/registries"])
def test_undecodable_credentials_are_unauthorized(world: World, path: bytes, authorization: bytes) -> None:
    answer = exchange(world.port, _get(path, authorization))
    assert answer is not None and answer.status == 401, answer
    assert "www-authenticate" in answer.headers
    body = json.loads(answer.body)
    code = body["error"]["code"] if path.startswith(b"/api/") else body["errors"][0]["code"]
    assert code == "UNAUTHORIZED"


@pytest.mark.parametrize("who", ["nobody", "ci"])
@pytest.mark.parametrize("control", [b"%00", b"%0a", b"%0d", b"%7f", b"%1b"])
@pytest.mark.parametrize(
    "path", [b"/v2/fuzz/a{}b/manifests/v1", b"/v2/fuzz/app{}/tags/list", b"/v2/fuzz/a{}/blobs/uploads/"]
)
def test_a_control_character_in_a_name_is_name_invalid(world: World, path: bytes, control: bytes, who: str) -> None:
    method = b"POST" if path.endswith(b"/uploads/") else b"GET"
    headers = [(b"Host", b"127.0.0.1")] + ([(b"Authorization", world.authorizations[who])] if who != "nobody" else [])
    answer = exchange(world.port, request_bytes(method, path.replace(b"{}", control), headers, b""))
    assert answer is not None, "connection dropped"
    assert answer.status == 400 and json.loads(answer.body)["errors"][0]["code"] == "NAME_INVALID", answer


@pytest.mark.parametrize("control", [b"%00", b"%0a", b"%7f"])
@pytest.mark.parametrize(
    "path", [b"/v2/fuzz/app/manifests/v1{}", b"/v2/fuzz/app/blobs/sha256:{}", b"/api/v1/registries/a{}", b"/x{}"]
)
def test_a_control_character_elsewhere_in_the_path_is_a_json_4xx(world: World, path: bytes, control: bytes) -> None:
    answer = exchange(world.port, _get(path.replace(b"{}", control), world.authorizations["admin"]))
    assert answer is not None, "connection dropped"
    assert 400 <= answer.status < 500 and answer.headers["content-type"].startswith("application/json"), answer
