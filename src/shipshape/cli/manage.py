"""The management commands (`account`, `registry`, `member`, `credential`, `k8s`, `webhook`, `image`, `retention`,
`gc`, `promote`, `audit`, `usage`, `checklist`, `login`): each one a client of the management API, added to the
`shipshape` command by `register`."""

from __future__ import annotations

import typer

from shipshape.cli.accounts import accounts
from shipshape.cli.audit import audit
from shipshape.cli.checklist import checklist
from shipshape.cli.credentials import credentials
from shipshape.cli.garbage import garbage
from shipshape.cli.images import images
from shipshape.cli.kubernetes import kubernetes
from shipshape.cli.members import members
from shipshape.cli.options import GlobalOptions, Server
from shipshape.cli.promotion import promote
from shipshape.cli.registries import registries
from shipshape.cli.retention import retention
from shipshape.cli.session import login, logout
from shipshape.cli.usage import usage
from shipshape.cli.webhooks import webhooks


def _global_options(ctx: typer.Context, server: Server = None) -> None:
    """Shipshape, a container registry that keeps your image rules."""
    ctx.obj = GlobalOptions(server=server)


def register(app: typer.Typer) -> None:
    app.callback()(_global_options)
    app.command("login")(login)
    app.command("logout")(logout)
    app.add_typer(accounts, name="account")
    app.add_typer(registries, name="registry")
    app.add_typer(members, name="member")
    app.add_typer(credentials, name="credential")
    app.add_typer(kubernetes, name="k8s")
    app.add_typer(webhooks, name="webhook")
    app.add_typer(images, name="image")
    app.add_typer(garbage, name="gc")
    app.add_typer(retention, name="retention")
    app.command("promote")(promote)
    app.command("audit")(audit)
    app.command("usage")(usage)
    app.command("checklist")(checklist)
