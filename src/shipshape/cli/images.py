"""`shipshape image show|list|delete`: an image's provenance, traceability annotations, sizes, referrers and pulls;
the images of a registry; deleting by tag or digest."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from shipshape.cli.client import path_part
from shipshape.cli.options import Json, Server, connect
from shipshape.cli.output import print_fields, print_json, print_table, when
from shipshape.domain.sizes import format_size

images = typer.Typer(no_args_is_help=True, help="Images: what is stored, where it came from, what it weighs.")
_SHORT_DIGEST = 12  # hex characters in tables, as docker shows image ids; --json has them in full


@images.command("show")
def show(
    ctx: typer.Context,
    reference: Annotated[str, typer.Argument(help="registry/repository:tag or registry/repository@sha256:…")],
    server: Server = None,
    json: Json = False,
) -> None:
    """Show an image: digest, tags, how it arrived (push or promotion, by whom, from where), the
    org.opencontainers.image.* annotations and config labels, layer sizes, and its signatures and SBOMs."""
    with connect(ctx, server) as client:
        image = client.get("/images", {"reference": reference})
    if json:
        print_json(image)
        return
    print_fields(_fields(image))
    if image["config"] is None:  # an index
        children = [_child_row(child) for child in image["manifests"]]
        _section(["MANIFEST", "PLATFORM", "SIZE"], children, "The index lists no manifests.")
    else:
        layers = [
            [short(layer["digest"]), layer["media_type"], format_size(layer["size"])] for layer in image["layers"]
        ]
        _section(["LAYER", "MEDIA TYPE", "SIZE"], layers, "No layers.")
    notes = [[key, value, "manifest"] for key, value in sorted(image["annotations"].items())]
    notes += [[key, value, "config label"] for key, value in sorted(image["labels"].items())]
    _section(["ANNOTATION", "VALUE", "FROM"], notes, "No annotations or config labels.")
    referrers = [[short(r["digest"]), r["artifact_type"] or "-"] for r in image["referrers"]]
    _section(["REFERRER", "ARTIFACT TYPE"], referrers, "No referrers (signatures, SBOMs, attestations).")
    pulls = [[p["puller"], str(p["count"]), when(p["last_pulled"], seconds=True)] for p in image["pulls"]]
    _section(["PULLED BY", "PULLS", "LAST PULLED"], pulls, "Never pulled.")


@images.command("list")
def list_images(
    ctx: typer.Context,
    path: Annotated[str, typer.Argument(help="registry, or registry/repository")],
    server: Server = None,
    json: Json = False,
) -> None:
    """List the images of a registry or repository: tags, digest, size, when pushed and last pulled."""
    registry, _, repository = path.partition("/")
    query = {"repository": repository} if repository else None
    with connect(ctx, server) as client:
        found = client.get(f"/registries/{path_part(registry)}/images", query)["images"]
    if json:
        print_json(found)
        return
    rows = [
        [
            image["repository"],
            ", ".join(image["tags"]) or "<untagged>",
            short(image["digest"]),
            format_size(image["size"]),
            when(image["pushed"]),
            when(image["last_pulled"]) if image["last_pulled"] else "never",
        ]
        for image in found
    ]
    print_table(["REPOSITORY", "TAGS", "DIGEST", "SIZE", "PUSHED", "LAST PULLED"], rows, f"No images in {path}.")


@images.command("delete")
def delete_image(
    ctx: typer.Context,
    reference: Annotated[str, typer.Argument(help="registry/repository:tag or registry/repository@sha256:…")],
    server: Server = None,
    json: Json = False,
) -> None:
    """Delete an image by digest (with all its tags), or a tag (and the image once no other tag points at it).
    The registry's policies apply; garbage collection frees the bytes."""
    with connect(ctx, server) as client:
        deleted = client.request("DELETE", "/images", params={"reference": reference})
    if json:
        print_json(deleted)
        return
    where = f"{deleted['repository']}@{short(deleted['digest'])}"
    if deleted["manifest_deleted"]:
        tags = f" and its tag(s) {', '.join(deleted['tags_removed'])}" if deleted["tags_removed"] else ""
        typer.echo(f"Deleted {where}{tags}.")
    else:
        typer.echo(f"Removed tag {', '.join(deleted['tags_removed'])} from {where}; {deleted['note']}.")


def _fields(image: dict[str, Any]) -> list[tuple[str, str]]:
    provenance, trace, config = image["provenance"], image["traceability"], image["config"]
    fields = [
        ("repository", image["repository"]),
        ("digest", image["digest"]),
        ("media type", image["media_type"]),
        ("artifact type", image["artifact_type"] or "-"),
        ("tags", ", ".join(image["tags"]) or "-"),
        ("arrived", when(image["created_at"], seconds=True)),
        ("arrived via", provenance["via"]),
        ("arrived by", provenance["by"] or "-"),
        ("credential", provenance["credential"] or "-"),
        ("promoted from", provenance["promoted_from"] or "-"),
        ("built by CI", "yes" if provenance["built_by_ci"] else "no"),
        ("revision", trace["revision"] or "-"),
        ("source", trace["source"] or "-"),
        ("version", trace["version"] or "-"),
        ("built", trace["created"] or "-"),
        ("last pulled", when(image["last_pulled"], seconds=True) if image["last_pulled"] else "never"),
        ("pulls", str(image["pull_count"])),
    ]
    if config is not None:
        fields.append(("config", f"{short(config['digest'])} ({format_size(config['size'])})"))
        fields.append(("size", f"{format_size(image['size'])} (config and {len(image['layers'])} layer(s))"))
    else:
        fields.append(("size", f"{format_size(image['size'])} (distinct blobs of {len(image['manifests'])} image(s))"))
    return fields


def _child_row(child: dict[str, Any]) -> list[str]:
    platform = child["platform"] or {}
    parts = [platform.get("os"), platform.get("architecture"), platform.get("variant")]
    size = child["size"]
    return [
        short(child["digest"]),
        "/".join(part for part in parts if part) or "-",
        "-" if size is None else format_size(size),
    ]


def _section(columns: list[str], rows: list[list[str]], empty: str) -> None:
    typer.echo("")
    print_table(columns, rows, empty)


def short(digest: str) -> str:
    """`sha256:3f2a9c1d4e5f`: enough to tell digests apart on screen."""
    algorithm, _, encoded = digest.partition(":")
    return f"{algorithm}:{encoded[:_SHORT_DIGEST]}"
