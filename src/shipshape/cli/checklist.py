"""`shipshape checklist`: the production-readiness checklist of registries; exit code 1 when an item fails, so a CI
pipeline can gate a deployment on it."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from shipshape.cli.client import fail, path_part
from shipshape.cli.options import Json, Server, connect
from shipshape.cli.output import print_json

_RESULTS = {"pass": Text("PASS", style="green"), "fail": Text("FAIL", style="bold red"), "n/a": Text("N/A")}


def checklist(
    ctx: typer.Context,
    registry: Annotated[
        str | None, typer.Argument(metavar="REGISTRY", help="The registry (default: every one you may read)")
    ] = None,
    account: Annotated[str | None, typer.Option("--account", help="Every registry of this account")] = None,
    server: Server = None,
    json: Json = False,
) -> None:
    """Check registries against the production-readiness checklist: immutable tags, rotated credentials, pushes
    to production only from CI, a used pull secret, separate environments, retention rules. Each item shows its
    evidence and the command that fixes it; the exit code is 1 when any item fails (with --json too)."""
    if registry is not None and account is not None:
        fail("give a REGISTRY or --account, not both", code=2)
    with connect(ctx, server) as client:
        if registry is not None:
            report = client.get(f"/registries/{path_part(registry)}/checklist")
        else:
            report = client.get("/checklist", {"account": account})
    if json:
        print_json(report)
    else:
        _print(report)
    if not report["passed"]:
        raise typer.Exit(1)


def _print(report: dict[str, Any]) -> None:
    console = Console(soft_wrap=False, highlight=False)
    if not report["registries"]:
        console.print("No registries to check: create one with `shipshape registry create`.", markup=False)
        return
    for checked in report["registries"]:
        failed = [item for item in checked["items"] if not item["passed"]]
        verdict = f"FAIL, {len(failed)} of {len(checked['items'])} items failed" if failed else "PASS"
        heading = f"{checked['registry']} ({checked['environment']}, account {checked['account']}): {verdict}"
        console.print(Text(heading, style="bold"))
        table = Table("RESULT", "ITEM", "EVIDENCE", box=None, pad_edge=False, header_style="bold")
        for item in checked["items"]:
            table.add_row(_RESULTS[_result(item)], Text(item["id"]), Text(item["evidence"]))
        console.print(table)
        if failed:
            # Plain lines, never wrapped, so that each command can be copied whole.
            typer.echo("To fix:")
            for item in failed:
                typer.echo(f"  # {item['id']}")
                for command in item["fix"].split(" && "):
                    typer.echo(f"  {command}")
        typer.echo("")
    failing = [checked["registry"] for checked in report["registries"] if not checked["passed"]]
    if failing:
        typer.echo(f"Not production-ready: {', '.join(failing)}.")
    else:
        count = len(report["registries"])
        typer.echo(f"Every item passed ({count} {'registry' if count == 1 else 'registries'}).")


def _result(item: dict[str, Any]) -> str:
    if not item["passed"]:
        return "fail"
    return "pass" if item["applicable"] else "n/a"
