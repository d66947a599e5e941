"""`shipshape account …`."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from shipshape.cli.client import path_part
from shipshape.cli.options import Json, Server, connect
from shipshape.cli.output import print_json, print_table, when
from shipshape.domain.sizes import format_size

accounts = typer.Typer(no_args_is_help=True, help="Accounts (tenants): created by server administrators.")


def _rows(found: list[dict[str, Any]]) -> list[list[str]]:
    return [
        [
            a["name"],
            format_size(a["quota_bytes"]),
            f"{a['credential_lifetime_seconds'] // 86400}d / {a['credential_max_lifetime_seconds'] // 86400}d",
            when(a["created_at"]),
        ]
        for a in found
    ]


@accounts.command("create")
def create(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Account name, e.g. acme")],
    quota: Annotated[str | None, typer.Option("--quota", help="Storage quota, e.g. 10GiB (default: 10GiB)")] = None,
    credential_lifetime: Annotated[
        str | None, typer.Option("--credential-lifetime", help="Credentials' default lifetime, e.g. 30d (default: 90d)")
    ] = None,
    max_credential_lifetime: Annotated[
        str | None, typer.Option("--max-credential-lifetime", help="Credentials' longest lifetime (default: 365d)")
    ] = None,
    server: Server = None,
    json: Json = False,
) -> None:
    """Create an account."""
    body = {
        "name": name,
        "quota": quota,
        "credential_lifetime": credential_lifetime,
        "credential_max_lifetime": max_credential_lifetime,
    }
    with connect(ctx, server) as client:
        account = client.post("/accounts", {key: value for key, value in body.items() if value is not None})
    if json:
        print_json(account)
    else:
        print_table(["NAME", "QUOTA", "CREDENTIAL LIFETIME / MAX", "CREATED"], _rows([account]), "")


@accounts.command("set-quota")
def set_quota(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Account name")],
    size: Annotated[str, typer.Argument(help="The new quota: 500MiB, 10GiB, 2GB or plain bytes")],
    server: Server = None,
    json: Json = False,
) -> None:
    """Change an account's storage quota (server administrators). Pushes past it are refused."""
    with connect(ctx, server) as client:
        account = client.request("PUT", f"/accounts/{path_part(name)}/quota", {"quota": size})
    if json:
        print_json(account)
    else:
        print_table(["NAME", "QUOTA", "CREDENTIAL LIFETIME / MAX", "CREATED"], _rows([account]), "")


@accounts.command("list")
def list_(ctx: typer.Context, server: Server = None, json: Json = False) -> None:
    """List accounts (all of them for server administrators, your own otherwise)."""
    with connect(ctx, server) as client:
        found = client.get("/accounts")["accounts"]
    if json:
        print_json(found)
    else:
        print_table(["NAME", "QUOTA", "CREDENTIAL LIFETIME / MAX", "CREATED"], _rows(found), "No accounts.")
