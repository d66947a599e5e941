"""`shipshape credential …`: machine credentials, whose secrets are shown once."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from shipshape.cli.client import fail, path_part
from shipshape.cli.options import Account, Json, Server, connect
from shipshape.cli.output import age, print_fields, print_json, print_table, when
from shipshape.domain.access import Action, CredentialKind

credentials = typer.Typer(no_args_is_help=True, help="Machine credentials: scoped, expiring, rotatable secrets.")
Username = Annotated[str, typer.Argument(help="The credential's login name, e.g. acme-prod+ci")]
ExpiresIn = Annotated[str | None, typer.Option("--expires-in", help="Lifetime, e.g. 30d (default: 90d, max 365d)")]
COLUMNS = ["USERNAME", "KIND", "SCOPES", "STATE", "EXPIRES", "LAST USED", "AGE"]


def _scopes(credential: dict[str, Any]) -> str:
    return " ".join(
        f"{s['registry']}{'/' + s['repositories'] if s['repositories'] else ''}:{','.join(s['actions'])}"
        for s in credential["scopes"]
    )


def _rows(found: list[dict[str, Any]]) -> list[list[str]]:
    return [
        [c["username"], c["kind"], _scopes(c), c["state"], when(c["expires_at"]), when(c["last_used_at"]),
         age(c["age_seconds"])]
        for c in found
    ]  # fmt: skip


def _actions(text: str | None) -> list[str] | None:
    if text is None:
        return None
    actions = [part.strip() for part in text.split(",") if part.strip()]
    known = {action.value for action in Action}
    unknown = [action for action in actions if action not in known]
    if unknown or not actions:
        fail(f"--actions takes a comma-separated list of pull, push and delete, not {text!r}", code=2)
    return actions


def _print_secret(issued: dict[str, Any], json: bool) -> None:
    if json:
        print_json({"username": issued["username"], "secret": issued["secret"], "expires_at": issued["expires_at"]})
        return
    print_fields([("username", issued["username"]), ("secret", issued["secret"]), ("expires", issued["expires_at"])])
    typer.echo("The secret is shown only this once: store it now.", err=True)


@credentials.command("create")
def create(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Credential name, e.g. ci; the login is <first registry>+<name>")],
    registry: Annotated[list[str], typer.Option("--registry", "-r", help="A registry it may act on (repeatable)")],
    kind: Annotated[CredentialKind, typer.Option("--kind", help="ci, pull or service")],
    actions: Annotated[
        str | None, typer.Option("--actions", help="pull,push,delete (default: pull,push for ci, else pull)")
    ] = None,
    repositories: Annotated[
        str | None, typer.Option("--repositories", help="Only repositories matching this glob, e.g. web/*")
    ] = None,
    expires_in: ExpiresIn = None,
    server: Server = None,
    json: Json = False,
) -> None:
    """Create a credential and print its username and secret (shown once)."""
    body: dict[str, Any] = {"name": name, "registries": registry, "kind": kind.value}
    optional = {"actions": _actions(actions), "repositories": repositories, "expires_in": expires_in}
    body.update({key: value for key, value in optional.items() if value is not None})
    with connect(ctx, server) as client:
        issued = client.post("/credentials", body)
    _print_secret(issued, json)


@credentials.command("list")
def list_(ctx: typer.Context, account: Account = None, server: Server = None, json: Json = False) -> None:
    """List an account's credentials: scopes, state, expiry, last use and age (never their secrets)."""
    with connect(ctx, server) as client:
        found = client.get("/credentials", {"account": account})["credentials"]
    if json:
        print_json(found)
    else:
        print_table(COLUMNS, _rows(found), "No credentials: create one with `shipshape credential create`.")


@credentials.command("show")
def show(ctx: typer.Context, username: Username, server: Server = None, json: Json = False) -> None:
    """Show one credential (never its secret)."""
    with connect(ctx, server) as client:
        credential = client.get(f"/credentials/{path_part(username)}")
    if json:
        print_json(credential)
    else:
        print_table(COLUMNS, _rows([credential]), "")


@credentials.command("rotate")
def rotate(
    ctx: typer.Context,
    username: Username,
    grace: Annotated[
        str, typer.Option("--grace", help="How long the old secret keeps working; 0 ends it at once")
    ] = "24h",
    expires_in: ExpiresIn = None,
    server: Server = None,
    json: Json = False,
) -> None:
    """Give the credential a new secret (printed once); the old one works for the grace window."""
    body = {"grace": grace} | ({"expires_in": expires_in} if expires_in else {})
    with connect(ctx, server) as client:
        issued = client.post(f"/credentials/{path_part(username)}/rotate", body)
    _print_secret(issued, json)


@credentials.command("reset")
def reset(
    ctx: typer.Context, username: Username, expires_in: ExpiresIn = None, server: Server = None, json: Json = False
) -> None:
    """Give the credential a new secret (printed once); every old one stops working at once."""
    with connect(ctx, server) as client:
        issued = client.post(
            f"/credentials/{path_part(username)}/reset", {"expires_in": expires_in} if expires_in else {}
        )
    _print_secret(issued, json)


@credentials.command("revoke")
def revoke(ctx: typer.Context, username: Username, server: Server = None, json: Json = False) -> None:
    """End the credential for good."""
    with connect(ctx, server) as client:
        credential = client.post(f"/credentials/{path_part(username)}/revoke")
    if json:
        print_json(credential)
    else:
        typer.echo(f"Revoked credential {username}")
