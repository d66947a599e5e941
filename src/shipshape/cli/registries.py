"""`shipshape registry …`."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from shipshape.cli.client import path_part
from shipshape.cli.options import Account, Json, Server, connect
from shipshape.cli.output import print_fields, print_json, print_table
from shipshape.domain.access import Environment
from shipshape.domain.policies import PRESETS, ManifestCreators, TagMutability
from shipshape.domain.sizes import format_size

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
    """Show a registry and its policy."""
    with connect(ctx, server) as client:
        registry = client.get(f"/registries/{path_part(name)}")
    _print_registry(registry, json)


def _listed(value: str | None) -> list[str] | None:
    """`latest,dev` → [latest, dev]; "" → [] (clears the list); None: not given."""
    if value is None:
        return None
    return [entry.strip() for entry in value.split(",") if entry.strip()]


@registries.command("set")
def set_(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Registry name")],
    preset: Annotated[
        Environment | None, typer.Option(help="Start from this environment's preset (other options apply on top)")
    ] = None,
    tag_mutability: Annotated[TagMutability | None, typer.Option(help="immutable: tags never move")] = None,
    mutable_tags: Annotated[
        str | None, typer.Option(help='Tag globs that stay mutable, e.g. dev-*; comma-separated, "" clears')
    ] = None,
    denied_tags: Annotated[
        str | None, typer.Option(help='Tag globs refused, e.g. latest,dev; comma-separated, "" clears')
    ] = None,
    allowed_tags: Annotated[
        str | None,
        typer.Option(help='Tags must match one of: semver, date, commit, regex:<re>; comma-separated, "" = any'),
    ] = None,
    manifest_creators: Annotated[
        ManifestCreators | None, typer.Option(help="Who may push manifests: any, ci, ci-or-promotion")
    ] = None,
    promotion_sources: Annotated[
        str | None,
        typer.Option(help="Registries that may promote here: names or env:<environment>; comma-separated"),
    ] = None,
    require_signature: Annotated[
        bool | None,
        typer.Option("--require-signature/--no-require-signature", help="Tag only images with a signature"),
    ] = None,
    max_image_size: Annotated[
        str | None, typer.Option(help="Refuse images larger than this, e.g. 2GiB; 0 turns the limit off")
    ] = None,
    server: Server = None,
    json: Json = False,
) -> None:
    """Change a registry's policy; options not given keep their values."""
    changes: dict[str, Any] = PRESETS[preset].document() if preset is not None else {}
    given = {
        "tag_mutability": tag_mutability.value if tag_mutability else None,
        "mutable_tags": _listed(mutable_tags),
        "denied_tags": _listed(denied_tags),
        "allowed_tags": _listed(allowed_tags),
        "manifest_creators": manifest_creators.value if manifest_creators else None,
        "promotion_sources": _listed(promotion_sources),
        "require_signature": require_signature,
        "max_image_size": max_image_size,
    }
    changes |= {key: value for key, value in given.items() if value is not None}
    if not changes:
        raise typer.BadParameter("nothing to change: give at least one policy option (see --help)")
    with connect(ctx, server) as client:
        registry = client.request("PATCH", f"/registries/{path_part(name)}/policy", changes)
    _print_registry(registry, json)


def _print_registry(registry: dict[str, Any], json: bool) -> None:
    if json:
        print_json(registry)
        return
    policy = registry["policy"]
    print_fields(
        [
            ("name", registry["name"]),
            ("account", registry["account"]),
            ("environment", registry["environment"]),
            ("public", "yes" if registry["public"] else "no"),
            ("tag mutability", policy["tag_mutability"]),
            ("mutable tags", ", ".join(policy["mutable_tags"]) or "-"),
            ("denied tags", ", ".join(policy["denied_tags"]) or "-"),
            ("allowed tags", ", ".join(policy["allowed_tags"]) or "any"),
            ("manifest creators", policy["manifest_creators"]),
            ("promotion sources", ", ".join(policy["promotion_sources"]) or "-"),
            ("require signature", "yes" if policy["require_signature"] else "no"),
            ("max image size", format_size(policy["max_image_size"]) if policy.get("max_image_size") else "no limit"),
        ]
    )


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
