"""The CLI's connection to the management API: which server, which login, and failures as messages."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NoReturn
from urllib.parse import quote

import typer

from shipshape.cli import logins

if TYPE_CHECKING:
    import httpx

DEFAULT_SERVER = "http://127.0.0.1:5000"
API = "/api/v1"


def fail(message: str, code: int = 1) -> NoReturn:
    typer.echo(f"shipshape: {message}", err=True)
    raise typer.Exit(code)


def normalise_server(server: str) -> str:
    """`host:port` → `http://host:port`; no trailing slash."""
    server = server.strip().rstrip("/")
    return server if "://" in server else f"http://{server}"


@dataclass(frozen=True, slots=True)
class Connection:
    server: str
    username: str | None
    password: str | None


def resolve(server: str | None) -> Connection:
    """The server (option or `SHIPSHAPE_SERVER`, else the stored login's, else the default) and the login
    (`SHIPSHAPE_USERNAME`/`SHIPSHAPE_PASSWORD`, else the one `shipshape login` stored for that server)."""
    try:
        stored = logins.load()
    except ValueError as error:
        fail(str(error))
    target = normalise_server(server or (stored.server if stored else DEFAULT_SERVER))
    username, password = os.environ.get("SHIPSHAPE_USERNAME"), os.environ.get("SHIPSHAPE_PASSWORD")
    if username is None and stored is not None and normalise_server(stored.server) == target:
        # Only for the server it was made for: a password is never sent to another server.
        username, password = stored.username, stored.password
    return Connection(target, username, password)


class ApiClient:
    """Calls `/api/v1/`; an error answer or an unreachable server ends the command with the message."""

    def __init__(self, connection: Connection, timeout: float = 60.0) -> None:
        import httpx  # here: at the top it would double the start-up time of `shipshape serve`

        self.connection = connection
        auth = (connection.username, connection.password or "") if connection.username else None
        self._http = httpx.Client(base_url=connection.server, auth=auth, timeout=timeout)

    def __enter__(self) -> ApiClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self._http.close()

    def get(self, path: str, params: dict[str, Any] | None = None) -> Any:
        return self.request("GET", path, params=params)

    def post(self, path: str, body: dict[str, Any] | None = None) -> Any:
        return self.request("POST", path, body=body)

    def put(self, path: str, body: dict[str, Any]) -> Any:
        return self.request("PUT", path, body=body)

    def delete(self, path: str) -> Any:
        return self.request("DELETE", path)

    def request(
        self, method: str, path: str, body: dict[str, Any] | None = None, params: dict[str, Any] | None = None
    ) -> Any:
        import httpx

        query = {key: value for key, value in (params or {}).items() if value is not None}
        try:
            # A body, if only `{}`, on every write: the server takes only JSON there (see api.manage.cross_site).
            sent = body if body is not None or method in ("GET", "DELETE") else {}
            response = self._http.request(method, API + path, json=sent, params=query)
        except httpx.HTTPError as error:
            fail(
                f"cannot reach {self.connection.server} ({error}): is the server running? Point at it with --server"
                " or SHIPSHAPE_SERVER"
            )
        if response.status_code >= 400:
            fail(self._message(response))
        return response.json() if response.content else None

    def _message(self, response: httpx.Response) -> str:
        try:
            message = str(response.json()["error"]["message"])
        except (ValueError, KeyError, TypeError):
            message = f"{response.status_code} {response.reason_phrase} from {self.connection.server}"
            if response.status_code == 404:
                message += ": no management API there (it needs a Shipshape server started with authentication on)"
        if response.status_code == 401 and self.connection.username is None:
            message += " (log in with `shipshape login`, or set SHIPSHAPE_USERNAME and SHIPSHAPE_PASSWORD)"
        return message


def path_part(name: str) -> str:
    """A name as one URL path segment (credential usernames hold `+`)."""
    return quote(name, safe="+")
