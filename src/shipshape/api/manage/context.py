"""What the management API's handlers need, set on the application by the composition root."""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from shipshape.domain.access import Principal
from shipshape.ports import Clock
from shipshape.services.administration import Actor, Administration
from shipshape.services.checklist import Checklist
from shipshape.services.images import ImageService
from shipshape.services.inventory import Inventory
from shipshape.services.maintenance import Maintenance
from shipshape.services.promotion import Promotions
from shipshape.services.retention import Retention
from shipshape.services.usage import UsageReports
from shipshape.services.webhooks import Webhooks


@dataclass(frozen=True, slots=True)
class ManageServices:
    administration: Administration
    clock: Clock
    public_url: str | None = None  # how clients address the server (pull secrets); default: the request's Host
    webhooks: Webhooks | None = None  # None: webhooks are off (the handlers answer 503)
    promotions: Promotions | None = None
    images: ImageService | None = None
    maintenance: Maintenance | None = None
    inventory: Inventory | None = None
    retention: Retention | None = None
    usage: UsageReports | None = None
    checklist: Checklist | None = None


MANAGE = web.AppKey("manage_services", ManageServices)
ACTOR = web.RequestKey("manage_actor", Actor)
# Who sent the request, member or machine credential; set for the operations machines may call (`machines=True`).
PRINCIPAL: web.RequestKey[Principal] = web.RequestKey("manage_principal")


def services(request: web.Request) -> ManageServices:
    return request.config_dict[MANAGE]


def actor(request: web.Request) -> Actor:
    return request[ACTOR]
