"""`shipshape retention`: a registry's retention rules, what a run would delete, and running it."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from shipshape.cli.client import fail, path_part
from shipshape.cli.images import short
from shipshape.cli.options import Json, Server, connect
from shipshape.cli.output import print_json, print_table
from shipshape.domain.sizes import format_size

retention = typer.Typer(no_args_is_help=True, help="Retention rules: which images expire, previewed before they go.")
Registry = Annotated[str, typer.Argument(help="The registry")]


@retention.command("set")
def set_rules(
    ctx: typer.Context,
    registry: Registry,
    file: Annotated[str | None, typer.Argument(help="YAML or JSON rules; - reads standard input")] = None,
    preset: Annotated[bool, typer.Option("--preset", help="Use the registry environment's preset rules")] = False,
    server: Server = None,
) -> None:
    """Replace the registry's retention rules (see `retention show` for the document's shape)."""
    if (file is None) == (not preset):
        fail("give a FILE of rules (or - for standard input), or --preset, not both", code=2)
    body: dict[str, Any] = {"preset": True} if preset else {"document": _read(file or "-")}
    with connect(ctx, server) as client:
        shown = client.put(f"/registries/{path_part(registry)}/retention", body)
    typer.echo(f"Retention rules of {registry} set ({len(shown['rules']['rules'])} rule(s)):\n")
    typer.echo(shown["yaml"].rstrip())
    typer.echo(f"\nSee what a run would delete: shipshape retention preview {registry}")


@retention.command("show")
def show(ctx: typer.Context, registry: Registry, server: Server = None, json: Json = False) -> None:
    """Print the registry's retention rules as YAML (edit them and `retention set` them again)."""
    with connect(ctx, server) as client:
        shown = client.get(f"/registries/{path_part(registry)}/retention")
    if json:
        print_json(shown)
    elif shown["yaml"] is None:
        typer.echo(
            f"{registry} has no retention rules: nothing expires. Start from the {shown['environment']} preset:"
            f" shipshape retention set {registry} --preset"
        )
    else:
        typer.echo(shown["yaml"].rstrip())


@retention.command("clear")
def clear(ctx: typer.Context, registry: Registry, server: Server = None) -> None:
    """Remove the registry's retention rules: nothing expires any more."""
    with connect(ctx, server) as client:
        client.delete(f"/registries/{path_part(registry)}/retention")
    typer.echo(f"{registry} has no retention rules now.")


@retention.command("preview")
def preview(ctx: typer.Context, registry: Registry, server: Server = None, json: Json = False) -> None:
    """List exactly what a run would delete now, by which rule, and the bytes it would free."""
    with connect(ctx, server) as client:
        report = client.get(f"/registries/{path_part(registry)}/retention/preview")
    _report(report, json, "would delete")


@retention.command("run")
def run(ctx: typer.Context, registry: Registry, server: Server = None, json: Json = False) -> None:
    """Apply the rules now: delete what `retention preview` lists (garbage collection then frees the bytes)."""
    with connect(ctx, server) as client:
        report = client.post(f"/registries/{path_part(registry)}/retention/run")
    _report(report, json, "deleted")


def _report(report: dict[str, Any], json: bool, verb: str) -> None:
    if json:
        print_json(report)
        return
    rows = [
        [c["repository"], ", ".join(c["tags"]) or "<untagged>", short(c["digest"]), format_size(c["size"]), c["rule"]]
        for c in report["candidates"]
    ]
    print_table(["REPOSITORY", "TAGS", "DIGEST", "SIZE", "RULE"], rows, "Nothing to delete.")
    typer.echo(f"\n{len(rows)} image(s) {verb}, freeing {format_size(report['bytes'])} once garbage collection runs.")
    if report["kept"]:
        typer.echo("\nSelected by an expire rule but kept:")
        kept = [
            [k["repository"], ", ".join(k["tags"]) or "<untagged>", short(k["digest"]), k["reason"]]
            for k in report["kept"]
        ]
        print_table(["REPOSITORY", "TAGS", "DIGEST", "WHY"], kept, "")
    for skipped in report["skipped"]:
        typer.echo(f"skipped {skipped['repository']}@{short(skipped['digest'])}: {skipped['reason']}")


def _read(file: str) -> str:
    if file == "-":
        return sys.stdin.read()
    try:
        return Path(file).read_text()
    except OSError as error:
        fail(f"cannot read {file}: {error.strerror}", code=2)
