"""`shipshape audit`: the audit trail, newest first."""

from __future__ import annotations

from typing import Annotated

import typer

from shipshape.cli.options import Account, Json, Server, connect
from shipshape.cli.output import print_json, print_table, when


def audit(
    ctx: typer.Context,
    registry: Annotated[str | None, typer.Option("--registry", help="Only events of this registry")] = None,
    since: Annotated[str | None, typer.Option("--since", help="Only events this recent, e.g. 1h or 7d")] = None,
    account: Account = None,
    limit: Annotated[int, typer.Option("--limit", help="At most this many events", min=1, max=1000)] = 100,
    server: Server = None,
    json: Json = False,
) -> None:
    """Show the audit log: logins, credential events, registry and member changes, pushes and deletes."""
    query = {"registry": registry, "since": since, "account": account, "limit": limit}
    with connect(ctx, server) as client:
        events = client.get("/audit", query)["events"]
    if json:
        print_json(events)
        return
    rows = [
        [when(e["time"], seconds=True), e["actor"], e["action"], e["target"], e["result"], e["remote"] or "-"]
        for e in events
    ]
    print_table(["TIME", "ACTOR", "ACTION", "TARGET", "RESULT", "FROM"], rows, "No events.")
