"""Signing in and out: members only, through the same login checks (and lockout) as `podman login`."""

from __future__ import annotations

from aiohttp import web

from shipshape.api.oci.access import ACCESS
from shipshape.domain.access import Member
from shipshape.domain.errors import LoginLocked, Unauthorized
from shipshape.web.context import PREFIX, SESSION_COOKIE, SIGNED_IN, console, manage, over_tls
from shipshape.web.render import redirect, render

MAX_FIELD = 1000


async def sign_in_form(request: web.Request) -> web.Response:
    target = _next(request.query.get("next"))
    if request.get(SIGNED_IN) is not None:
        raise web.HTTPSeeOther(target)
    return render(request, "sign_in.html", {"next": target, "username": "", "error": None})


async def sign_in(request: web.Request) -> web.Response:
    form = await request.post()
    username = str(form.get("username", ""))[:MAX_FIELD].strip()
    password = str(form.get("password", ""))[:MAX_FIELD]
    target = _next(str(form.get("next", "")))
    authenticator = request.config_dict[ACCESS].authenticator
    try:
        principal = await authenticator.basic(username, password, request.remote)
    except LoginLocked as error:
        return _refused(request, username, target, error.message, 429)
    except Unauthorized:
        return _refused(request, username, target, "wrong username or password", 401)
    if not isinstance(principal, Member) or principal.password_id is None:
        return _refused(
            request, username, target,
            f"{username} is a machine credential: it logs in with podman, docker or skopeo; the console is for"
            " members (ask an account owner to add you as one)",
            403,
        )  # fmt: skip
    now = manage(request).clock.now()
    cookie, _ = console(request).sessions.issue(principal.username, principal.password_id, now)
    response = web.HTTPSeeOther(target)
    response.set_cookie(
        SESSION_COOKIE,
        cookie,
        path=PREFIX,
        max_age=int(console(request).sessions.lifetime.total_seconds()),
        httponly=True,
        samesite="Strict",
        secure=over_tls(request),
    )
    raise response


async def sign_out(request: web.Request) -> web.Response:
    response = redirect(request, f"{PREFIX}/sign-in", "You are signed out.")
    response.del_cookie(SESSION_COOKIE, path=PREFIX)
    raise response


def _refused(request: web.Request, username: str, target: str, message: str, status: int) -> web.Response:
    return render(request, "sign_in.html", {"next": target, "username": username, "error": message}, status=status)


def _next(target: str | None) -> str:
    """Where to go after signing in: a console page, never another site (`//evil.example`, `/\\evil`)."""
    if target and target.startswith(PREFIX + "/") and not target.startswith(("//", "/\\")) and "\\" not in target:
        return target
    return PREFIX + "/"
