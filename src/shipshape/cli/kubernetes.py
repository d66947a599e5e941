"""`shipshape k8s …`: Kubernetes manifests for pulling from a registry."""

from __future__ import annotations

import sys
from typing import Annotated, Any

import typer

from shipshape.cli.options import Json, Server, connect, read_secret
from shipshape.cli.output import print_json

kubernetes = typer.Typer(no_args_is_help=True, help="Kubernetes: image pull secrets.")


@kubernetes.command("pull-secret")
def pull_secret(
    ctx: typer.Context,
    registry: Annotated[str, typer.Argument(help="Registry to pull from")],
    namespace: Annotated[str, typer.Option("--namespace", "-n", help="Kubernetes namespace")],
    secret_name: Annotated[
        str | None, typer.Option("--secret-name", help="Secret name (default: <registry>-pull)")
    ] = None,
    service_account: Annotated[
        str, typer.Option("--service-account", help="ServiceAccount whose pods pull with it")
    ] = "default",
    credential: Annotated[
        str | None,
        typer.Option("--credential", help="Reuse this pull-only credential; its secret is read from stdin"),
    ] = None,
    server: Server = None,
    json: Json = False,
) -> None:
    """Print YAML for a dockerconfigjson Secret and the ServiceAccount using it (`| kubectl apply -f -`).

    Without --credential a new pull-only credential `<registry>+k8s-<namespace>` is created for it.
    """
    body: dict[str, Any] = {"registry": registry, "namespace": namespace, "service_account": service_account}
    if secret_name is not None:
        body["secret_name"] = secret_name
    if credential is not None:
        body["credential"] = credential
        body["secret"] = read_secret(f"secret of {credential}")
    with connect(ctx, server) as client:
        issued = client.post("/pull-secrets", body)
    if json:
        print_json(issued)
        return
    sys.stdout.write(issued["yaml"])
    if issued["created"]:
        typer.echo(f"Created pull-only credential {issued['username']} for this Secret.", err=True)
