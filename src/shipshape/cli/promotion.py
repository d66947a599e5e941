"""`shipshape promote SOURCE TARGET`: promote an image by digest, server-side."""

from __future__ import annotations

from typing import Annotated

import typer

from shipshape.cli.options import Json, Server, connect
from shipshape.cli.output import print_json


def promote(
    ctx: typer.Context,
    source: Annotated[str, typer.Argument(help="registry/repository:tag or registry/repository@sha256:…")],
    target: Annotated[str, typer.Argument(help="registry/repository[:tag]; the tag defaults to the source's")],
    server: Server = None,
    json: Json = False,
) -> None:
    """Promote an image into another registry: same digest, no rebuild, no bytes copied; its signatures, SBOMs
    and attestations come along. The target registry's policies apply."""
    with connect(ctx, server) as client:
        done = client.post("/promotions", {"source": source, "target": target})
    if json:
        print_json(done)
        return
    typer.echo(
        f"Promoted {done['source']} to {done['target']}"
        f" ({done['manifests']} manifest(s), {done['blobs']} blob(s) linked, no bytes copied)"
    )
