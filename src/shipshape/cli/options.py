"""Options every management command shares, and connecting to the server they name."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Annotated

import typer

from shipshape.cli.client import ApiClient, fail, resolve

SERVER_HELP = "Shipshape server URL (default: the stored login's, else http://127.0.0.1:5000)"
Server = Annotated[str | None, typer.Option("--server", envvar="SHIPSHAPE_SERVER", help=SERVER_HELP)]
Json = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table")]
Account = Annotated[str | None, typer.Option("--account", help="Account (default: your own)")]


@dataclass(frozen=True, slots=True)
class GlobalOptions:
    server: str | None = None


def connect(ctx: typer.Context, server: str | None) -> ApiClient:
    """A client for the server named on this command, else on `shipshape --server`, else the default."""
    options = ctx.find_root().obj
    fallback = options.server if isinstance(options, GlobalOptions) else None
    return ApiClient(resolve(server or fallback))


def read_secret(what: str) -> str:
    """A password or secret from standard input, without its trailing newline; asked for on a terminal."""
    if sys.stdin.isatty():
        return str(typer.prompt(what.capitalize(), hide_input=True))
    text = sys.stdin.read().rstrip("\r\n")
    if not text:
        fail(f'no {what} on standard input: pipe it in, e.g. `printf %s "$PASSWORD" | shipshape …`', code=2)
    return text
