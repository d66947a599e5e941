"""`shipshape registry …`."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from shipshape.cli.client import path_part
from shipshape.cli.options import Account, Json, Server, connect
from shipshape.cli.output import print_json, print_table
from shipshape.domain.access import Environment

registries = typer.Typer(no_args_is_help=True, help="Registries: the first path component of every image name.")
COLUMNS = ["NAME", "ACCOUNT", "ENVIRONMENT", "PUBLIC"]


def _rows(found: list[dict[str, Any]]) -> list[list[str]]:
    return [[r["name"], r["account"], r["environment"], "yes" if r["public"] else "no"] for r in found]


@registries.command("create")
def create(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Registry name, e.g. acme-prod")],
    environment: Annotated[Environment, typer.Option("--environment", "-e", help="Its environment preset")],
    account: Account = None,
    public: Annotated[bool, typer.Option("--public", help="Anyone may pull without logging in")] = False,
    server: Server = None,
    json: Json = False,
) -> None:
    """Create a registry."""
    body = {"name": name, "environment": environment.value, "account": account, "public": public}
    with connect(ctx, server) as client:
        registry = client.post("/registries", {key: value for key, value in body.items() if value is not None})
    if json:
        print_json(registry)
    else:
        print_table(COLUMNS, _rows([registry]), "")


@registries.command("list")
def list_(ctx: typer.Context, account: Account = None, server: Server = None, json: Json = False) -> None:
    """List registries (every account's for server administrators, unless --account)."""
    with connect(ctx, server) as client:
        found = client.get("/registries", {"account": account})["registries"]
    if json:
        print_json(found)
    else:
        print_table(COLUMNS, _rows(found), "No registries: create one with `shipshape registry create`.")


@registries.command("show")
def show(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Registry name")],
    server: Server = None,
    json: Json = False,
) -> None:
    """Show a registry."""
    with connect(ctx, server) as client:
        registry = client.get(f"/registries/{path_part(name)}")
    if json:
        print_json(registry)
    else:
        print_table(COLUMNS, _rows([registry]), "")


@registries.command("delete")
def delete(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Registry name")],
    server: Server = None,
    json: Json = False,
) -> None:
    """Delete a registry that holds no repositories."""
    with connect(ctx, server) as client:
        client.delete(f"/registries/{path_part(name)}")
    if json:
        print_json({"deleted": name})
    else:
        typer.echo(f"Deleted registry {name}")
