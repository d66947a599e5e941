"""What the console's handlers need: its services on the application, the signed-in member on the request."""

from __future__ import annotations

from dataclasses import dataclass

import jinja2
from aiohttp import web

from shipshape.api.manage.context import MANAGE, ManageServices
from shipshape.auth.console_sessions import Session, SessionCodec
from shipshape.domain.access import Member
from shipshape.services.administration import Actor

PREFIX = "/ui"
SESSION_COOKIE = "shipshape_session"
NOTICE_COOKIE = "shipshape_notice"


@dataclass(frozen=True, slots=True)
class Console:
    sessions: SessionCodec
    templates: jinja2.Environment


@dataclass(frozen=True, slots=True)
class SignedIn:
    member: Member
    session: Session


CONSOLE = web.AppKey("console", Console)
SIGNED_IN = web.RequestKey("console_signed_in", SignedIn)


def console(request: web.Request) -> Console:
    return request.config_dict[CONSOLE]


def manage(request: web.Request) -> ManageServices:
    return request.config_dict[MANAGE]


def signed_in(request: web.Request) -> SignedIn:
    return request[SIGNED_IN]


def actor(request: web.Request) -> Actor:
    """The signed-in member, as the services take it."""
    return Actor(signed_in(request).member, request.remote)


def url(path: str) -> str:
    """The console address of `path` (`/registries/x` → `/ui/registries/x`)."""
    return PREFIX + path


def over_tls(request: web.Request) -> bool:
    """Whether browsers reach the console over TLS: served so, or behind a proxy whose public URL is https."""
    public_url = manage(request).public_url
    return request.secure or (public_url is not None and public_url.startswith("https://"))
