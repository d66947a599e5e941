"""`shipshape usage`: what an account or registry stores, against the account's quota."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from shipshape.cli.client import fail
from shipshape.cli.images import short
from shipshape.cli.options import Json, Server, connect
from shipshape.cli.output import print_json, print_table, when
from shipshape.domain.sizes import format_size


def usage(
    ctx: typer.Context,
    account: Annotated[str | None, typer.Option("--account", help="The account (default: yours)")] = None,
    registry: Annotated[str | None, typer.Option("--registry", help="Only this registry")] = None,
    unpulled_days: Annotated[
        int, typer.Option("--unpulled-days", help="List images not pulled for this many days")
    ] = 30,
    top: Annotated[int, typer.Option("--top", help="How many of the largest images, layers and growths")] = 10,
    server: Server = None,
    json: Json = False,
) -> None:
    """Storage used against the account's quota: per registry and repository, the largest images and layers,
    images nobody pulls, images that grew since their previous tag, and the daily history."""
    if account is not None and registry is not None:
        fail("give --account or --registry, not both", code=2)
    params: dict[str, Any] = {"unpulled_days": unpulled_days, "top": top}
    if account is not None:
        params["account"] = account
    if registry is not None:
        params["registry"] = registry
    with connect(ctx, server) as client:
        report = client.get("/usage", params)
    if json:
        print_json(report)
        return
    _print(report, top)


def _print(report: dict[str, Any], top: int) -> None:
    scope = f"registry {report['registry']}" if report["registry"] else f"account {report['account']}"
    typer.echo(
        f"Account {report['account']}: {format_size(report['used_bytes'])} of {format_size(report['quota_bytes'])}"
        f" quota ({report['percent']}%)"
    )
    if report["registry"]:
        typer.echo(f"Registry {report['registry']}: {format_size(report['bytes'])}")
    typer.echo(f"{report['blobs']} blobs and {report['manifests']} manifests in {scope}\n")
    _table("REGISTRY", report["registries"], f"{scope} has no registries")
    _table("REPOSITORY", report["repositories"][:top], "no repositories")
    print_table(
        ["LARGEST IMAGES", "TAGS", "DIGEST", "SIZE", "PUSHED", "LAST PULLED"],
        [_image_row(image) for image in report["largest_images"]],
        "no images",
    )
    print_table(
        ["LARGEST LAYERS", "SIZE", "REPOSITORIES"],
        [[short(layer["digest"]), format_size(layer["size"]), ", ".join(layer["repositories"])]
         for layer in report["largest_layers"]],
        "no layers",
    )  # fmt: skip
    print_table(
        [f"NOT PULLED FOR {report['unpulled_days']} DAYS", "TAGS", "DIGEST", "SIZE", "PUSHED", "LAST PULLED"],
        [_image_row(image) for image in report["unpulled"][:top]],
        f"every image was pulled in the last {report['unpulled_days']} days",
    )
    print_table(
        ["GREW SINCE PREVIOUS TAG", "TAG", "SIZE", "PREVIOUS TAG", "PREVIOUS SIZE", "GREW BY"],
        [[g["repository"], g["tag"], format_size(g["size"]), g["previous_tag"], format_size(g["previous_size"]),
          f"+{format_size(g['grew_by'])}"] for g in report["growth"]],
        "no image grew since its previous tag",
    )  # fmt: skip
    print_table(
        ["DAY", "USAGE"],
        [[snapshot["day"], format_size(snapshot["bytes"])] for snapshot in report["history"]],
        "no history yet",
    )


def _table(heading: str, scopes: list[dict[str, Any]], empty: str) -> None:
    rows = [[s["name"], format_size(s["bytes"]), str(s["blobs"]), str(s["manifests"])] for s in scopes]
    print_table([heading, "SIZE", "BLOBS", "MANIFESTS"], rows, empty)


def _image_row(image: dict[str, Any]) -> list[str]:
    return [
        image["repository"],
        ", ".join(image["tags"]) or "-",
        short(image["digest"]),
        format_size(image["size"]),
        when(image["pushed"]),
        when(image["last_pulled"]),
    ]
