"""What the management API's handlers need, set on the application by the composition root."""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from shipshape.ports import Clock
from shipshape.services.administration import Actor, Administration


@dataclass(frozen=True, slots=True)
class ManageServices:
    administration: Administration
    clock: Clock
    public_url: str | None = None  # how clients address the server (pull secrets); default: the request's Host


MANAGE = web.AppKey("manage_services", ManageServices)
ACTOR = web.RequestKey("manage_actor", Actor)


def services(request: web.Request) -> ManageServices:
    return request.config_dict[MANAGE]


def actor(request: web.Request) -> Actor:
    return request[ACTOR]
