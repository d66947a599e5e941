"""`shipshape member …`."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from shipshape.cli.client import path_part
from shipshape.cli.options import Account, Json, Server, connect, read_secret
from shipshape.cli.output import print_json, print_table
from shipshape.domain.access import Role

members = typer.Typer(no_args_is_help=True, help="Members: people who log in with a password and act by role.")
COLUMNS = ["USERNAME", "ACCOUNT", "ROLE"]
PasswordStdin = Annotated[bool, typer.Option("--password-stdin", help="Read the password from stdin")]


def _rows(found: list[dict[str, Any]]) -> list[list[str]]:
    return [[m["username"], m["account"], m["role"]] for m in found]


def _password(from_stdin: bool) -> str:
    if from_stdin:
        return read_secret("password")
    return str(typer.prompt("Password", hide_input=True, confirmation_prompt=True))


@members.command("add")
def add(
    ctx: typer.Context,
    username: Annotated[str, typer.Argument(help="Login name, e.g. alice")],
    role: Annotated[Role, typer.Option("--role", help="What the member may do in the account")],
    account: Account = None,
    password_stdin: PasswordStdin = False,
    server: Server = None,
    json: Json = False,
) -> None:
    """Add a member to an account (password: at least 12 characters, not common, not the username)."""
    body = {"username": username, "role": role.value, "password": _password(password_stdin)}
    if account is not None:
        body["account"] = account
    with connect(ctx, server) as client:
        member = client.post("/members", body)
    if json:
        print_json(member)
    else:
        print_table(COLUMNS, _rows([member]), "")


@members.command("list")
def list_(ctx: typer.Context, account: Account = None, server: Server = None, json: Json = False) -> None:
    """List an account's members."""
    with connect(ctx, server) as client:
        found = client.get("/members", {"account": account})["members"]
    if json:
        print_json(found)
    else:
        print_table(COLUMNS, _rows(found), "No members.")


@members.command("remove")
def remove(
    ctx: typer.Context,
    username: Annotated[str, typer.Argument(help="Member username")],
    server: Server = None,
    json: Json = False,
) -> None:
    """Remove a member."""
    with connect(ctx, server) as client:
        client.delete(f"/members/{path_part(username)}")
    if json:
        print_json({"removed": username})
    else:
        typer.echo(f"Removed member {username}")


@members.command("password")
def password(
    ctx: typer.Context,
    username: Annotated[str, typer.Argument(help="Member username (yourself, or a member you manage)")],
    password_stdin: PasswordStdin = False,
    server: Server = None,
) -> None:
    """Set a member's password."""
    with connect(ctx, server) as client:
        client.put(f"/members/{path_part(username)}/password", {"password": _password(password_stdin)})
    typer.echo(f"Password of {username} changed")
