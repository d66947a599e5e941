"""Rendering pages: one Jinja2 environment (autoescaped, strict), the filters templates share, and `render`."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import jinja2
from aiohttp import web

from shipshape.api.manage.context import MANAGE
from shipshape.domain.sizes import format_size
from shipshape.services.rights import may_manage
from shipshape.web.context import NOTICE_COOKIE, PREFIX, SIGNED_IN, console, manage, over_tls

SHORT_DIGEST = 12  # hex characters shown of a digest; the whole one is copied


def environment() -> jinja2.Environment:
    templates = jinja2.Environment(
        loader=jinja2.PackageLoader("shipshape.web", "templates"),
        autoescape=True,  # every value is escaped unless a template says otherwise (none does)
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    templates.filters.update(size=format_size, short_digest=short_digest, when=when)
    templates.globals.update(ui=PREFIX)
    return templates


def short_digest(digest: str) -> str:
    """`sha256:3f2a9c1d5e7b…`: the algorithm and the first hex characters."""
    algorithm, _, hex_part = digest.partition(":")
    return f"{algorithm}:{hex_part[:SHORT_DIGEST]}" if hex_part else digest[:SHORT_DIGEST]


def when(moment: datetime | None, now: datetime | None = None) -> str:
    """`2026-12-07 14:03 UTC`: minutes are enough on a page; the exact time is in the element's title."""
    if moment is None:
        return "never"
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def ago(moment: datetime | None, now: datetime) -> str:
    """`3 days ago`, `in 5 hours`, `just now`, `never`."""
    if moment is None:
        return "never"
    delta = now - moment
    future = delta < timedelta(0)
    seconds = abs(int(delta.total_seconds()))
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size:
            count = seconds // size
            text = f"{count} {unit}{'' if count == 1 else 's'}"
            return f"in {text}" if future else f"{text} ago"
    return "just now"


def render(request: web.Request, template: str, context: Mapping[str, Any], status: int = 200) -> web.Response:
    """The page `template` with `context`, and what every page shows: who is signed in, the form token, a notice."""
    services = request.config_dict.get(MANAGE)
    now = services.clock.now() if services is not None else datetime.now(UTC)  # None: authentication is off
    signed = request.get(SIGNED_IN)
    notice = request.cookies.get(NOTICE_COOKIE) if services is not None else None
    page = dict(context)
    page.update(
        me=signed.member if signed else None,
        # Owners and admins manage the account (credentials, the audit log); the others only see it.
        manager=signed is not None and may_manage(signed.member, signed.member.account, "account") is None,
        csrf=signed.session.csrf if signed else "",
        notice=console(request).sessions.unsign(notice, now) if notice else None,
        now=now,
        ago=lambda moment: ago(moment, now),
        path=request.path,
        # What podman needs to reach a registry served over plain HTTP (docker: "insecure-registries").
        tls_flag="" if services is None or over_tls(request) else "--tls-verify=false ",
    )
    html = console(request).templates.get_template(template).render(page)
    response = web.Response(text=html, content_type="text/html", status=status)
    if notice:
        response.del_cookie(NOTICE_COOKIE, path=PREFIX)
    return response


def redirect(request: web.Request, location: str, notice: str | None = None) -> web.HTTPSeeOther:
    """A `303 See Other` to `location` (after a form post), carrying `notice` to show there once."""
    response = web.HTTPSeeOther(location)
    if notice is not None:
        now = manage(request).clock.now()
        response.set_cookie(
            NOTICE_COOKIE,
            console(request).sessions.sign(notice, now),
            path=PREFIX,
            httponly=True,
            samesite="Strict",
            secure=over_tls(request),
        )
    return response
