"""`shipshape login` and `shipshape logout`."""

from __future__ import annotations

from typing import Annotated

import typer

from shipshape.cli import logins
from shipshape.cli.client import DEFAULT_SERVER, ApiClient, Connection, fail, normalise_server
from shipshape.cli.options import GlobalOptions, Server, read_secret


def login(
    ctx: typer.Context,
    server: Server = None,
    username: Annotated[str | None, typer.Option("--username", "-u", help="Member username")] = None,
    password_stdin: Annotated[bool, typer.Option("--password-stdin", help="Read the password from stdin")] = False,
) -> None:
    """Check a member's username and password against the server and store them for later commands."""
    options = ctx.find_root().obj
    target = normalise_server(server or (options.server if isinstance(options, GlobalOptions) else None) or "")
    if target == "http://":
        target = DEFAULT_SERVER
    if username is None:
        username = typer.prompt("Username")
    password = read_secret("password") if password_stdin else typer.prompt("Password", hide_input=True)
    with ApiClient(Connection(target, username, password)) as client:
        me = client.get("/me")
    try:
        path = logins.save(logins.StoredLogin(server=target, username=username, password=password))
    except OSError as error:
        fail(f"cannot store the login: {error}")
    typer.echo(f"Logged in to {target} as {me['username']} ({me['role']} of {me['account']}); saved in {path}")


def logout() -> None:
    """Forget the stored login."""
    if logins.forget():
        typer.echo(f"Removed {logins.login_file()}")
    else:
        typer.echo("Not logged in")
