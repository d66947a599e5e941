"""`shipshape webhook …`: URLs that hear pushes, deletes, promotions and policy refusals, signed with a secret
shown once."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from shipshape.cli.client import path_part
from shipshape.cli.options import Account, Json, Server, connect
from shipshape.cli.output import print_fields, print_json, print_table, when
from shipshape.domain.events import EventKind

webhooks = typer.Typer(no_args_is_help=True, help="Webhooks: signed CloudEvents POSTed on registry events.")
WebhookId = Annotated[str, typer.Argument(help="The webhook's id, e.g. wh_0123456789abcdef")]
Registry = Annotated[str | None, typer.Option("--registry", "-r", help="Only this registry's events")]
COLUMNS = ["ID", "ACCOUNT", "REGISTRY", "EVENTS", "URL", "CREATED"]
DELIVERY_COLUMNS = ["DELIVERY", "EVENT", "SUBJECT", "STATE", "ATTEMPTS", "STATUS", "LAST ERROR", "CREATED"]


def _rows(found: list[dict[str, Any]]) -> list[list[str]]:
    return [
        [w["id"], w["account"], w["registry"] or "(all)", ",".join(w["events"]), w["url"], when(w["created_at"])]
        for w in found
    ]


def _delivery_rows(found: list[dict[str, Any]]) -> list[list[str]]:
    return [
        [d["id"], d["event_type"], d["subject"], d["state"], str(d["attempts"]),
         str(d["last_status"] or "-"), d["last_error"] or "-", when(d["created_at"], seconds=True)]
        for d in found
    ]  # fmt: skip


@webhooks.command("create")
def create(
    ctx: typer.Context,
    url: Annotated[str, typer.Argument(help="Where to POST events: an http or https URL")],
    event: Annotated[
        list[EventKind] | None, typer.Option("--event", "-e", help="An event to hear (repeatable; default: all)")
    ] = None,
    account: Account = None,
    registry: Registry = None,
    server: Server = None,
    json: Json = False,
) -> None:
    """Create a webhook for an account's registries (or one registry) and print its secret (shown once)."""
    body: dict[str, Any] = {"url": url}
    optional = {"events": [kind.value for kind in event] if event else None, "account": account, "registry": registry}
    body.update({key: value for key, value in optional.items() if value is not None})
    with connect(ctx, server) as client:
        created = client.post("/webhooks", body)
    if json:
        print_json(created)
        return
    print_fields([("id", created["id"]), ("secret", created["secret"]), ("url", created["webhook"]["url"])])
    typer.echo(
        "The secret is shown only this once: store it with the receiver, to check Shipshape-Signature.", err=True
    )


@webhooks.command("list")
def list_(
    ctx: typer.Context, account: Account = None, registry: Registry = None, server: Server = None, json: Json = False
) -> None:
    """List webhooks (never their secrets)."""
    with connect(ctx, server) as client:
        found = client.get("/webhooks", {"account": account, "registry": registry})["webhooks"]
    if json:
        print_json(found)
    else:
        print_table(COLUMNS, _rows(found), "No webhooks: create one with `shipshape webhook create URL`.")


@webhooks.command("delete")
def delete(ctx: typer.Context, webhook_id: WebhookId, server: Server = None, json: Json = False) -> None:
    """Delete a webhook and the record of its deliveries."""
    with connect(ctx, server) as client:
        client.delete(f"/webhooks/{path_part(webhook_id)}")
    if json:
        print_json({"deleted": webhook_id})
    else:
        typer.echo(f"Deleted webhook {webhook_id}")


@webhooks.command("deliveries")
def deliveries(
    ctx: typer.Context,
    webhook_id: WebhookId,
    limit: Annotated[int, typer.Option("--limit", min=1, max=500, help="How many, newest first")] = 50,
    server: Server = None,
    json: Json = False,
) -> None:
    """Show a webhook's recent deliveries: state, attempts, last HTTP status and error."""
    with connect(ctx, server) as client:
        found = client.get(f"/webhooks/{path_part(webhook_id)}/deliveries", {"limit": limit})["deliveries"]
    if json:
        print_json(found)
    else:
        print_table(DELIVERY_COLUMNS, _delivery_rows(found), "No deliveries yet.")
