"""`shipshape gc run`: garbage collection now, instead of waiting for the hourly run."""

from __future__ import annotations

from typing import Annotated

import typer

from shipshape.cli.options import Json, Server, connect
from shipshape.cli.output import print_fields, print_json
from shipshape.domain.sizes import format_size

garbage = typer.Typer(no_args_is_help=True, help="Garbage collection: free the bytes nothing references.")


@garbage.command("run")
def run(
    ctx: typer.Context,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only count what would be deleted")] = False,
    grace: Annotated[
        str | None,
        typer.Option("--grace", help="Keep what became unreferenced less than this long ago, e.g. 1h (server's)"),
    ] = None,
    server: Server = None,
    json: Json = False,
) -> None:
    """Delete blobs no image references and uploads nobody finished, older than the grace period (server
    administrators). Pushes and pulls go on meanwhile."""
    body: dict[str, object] = {"dry_run": dry_run}
    if grace is not None:
        body["grace"] = grace
    with connect(ctx, server) as client:
        report = client.post("/gc", body)
    if json:
        print_json(report)
        return
    verb = "would delete" if report["dry_run"] else "deleted"
    print_fields(
        [
            ("blobs", f"{report['blobs_deleted']} {verb} ({format_size(report['bytes_freed'])})"),
            ("links", f"{report['links_dropped']} unreferenced blob link(s) {'to drop' if dry_run else 'dropped'}"),
            ("uploads", f"{report['uploads_deleted']} abandoned upload file(s) {verb}"),
            ("grace", f"{report['grace_seconds']}s"),
        ]
    )
