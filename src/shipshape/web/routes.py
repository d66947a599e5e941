"""The console's pages and `add_console`, which mounts them at `/ui/` (and sends `/` there)."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from shipshape.auth.console_sessions import SessionCodec
from shipshape.web import activity_pages, credential_pages, image_pages, overview, registry_pages, sign_in
from shipshape.web.context import CONSOLE, PREFIX, Console
from shipshape.web.guard import error_pages, require_session, secure_headers
from shipshape.web.render import environment

STATIC = Path(__file__).parent / "static"


def add_console(app: web.Application, data_dir: Path) -> None:
    """Mount the console at /ui/; it reads its services from `app[MANAGE]` and `app[ACCESS]`."""
    console = web.Application(middlewares=[secure_headers, error_pages, require_session])
    console[CONSOLE] = Console(SessionCodec(data_dir), environment())
    routes = console.router
    routes.add_get("/", overview.overview, name="console.overview")
    routes.add_get("/sign-in", sign_in.sign_in_form, name="console.sign_in_form")
    routes.add_post("/sign-in", sign_in.sign_in, name="console.sign_in")
    routes.add_post("/sign-out", sign_in.sign_out, name="console.sign_out")
    routes.add_get("/registries/{name}", registry_pages.registry, name="console.registry")
    routes.add_get("/repositories/{path:.+}", registry_pages.repository, name="console.repository")
    routes.add_get("/image", image_pages.image, name="console.image")
    routes.add_post("/promote", image_pages.promote, name="console.promote")
    routes.add_get("/credentials", credential_pages.credentials, name="console.credentials")
    routes.add_post("/credentials", credential_pages.create, name="console.create_credential")
    routes.add_post("/credentials/{username}/{action}", credential_pages.act, name="console.credential_action")
    routes.add_post("/pull-secrets", credential_pages.pull_secret, name="console.pull_secret")
    routes.add_get("/usage", activity_pages.usage, name="console.usage")
    routes.add_get("/audit", activity_pages.audit, name="console.audit")
    routes.add_static("/static", STATIC, name="console.static", append_version=False)
    app.add_subapp(PREFIX, console)

    async def to_console(request: web.Request) -> web.StreamResponse:
        raise web.HTTPFound(f"{PREFIX}/")

    app.router.add_get("/", to_console, name="console.root")
    app.router.add_get(PREFIX, to_console, name="console.bare")
