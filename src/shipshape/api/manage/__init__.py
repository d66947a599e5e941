"""The management API (`/api/v1/`): accounts, registries, members, credentials, audit log, pull secrets."""

from shipshape.api.manage.context import MANAGE, ManageServices
from shipshape.api.manage.routes import add_manage_routes

__all__ = ["MANAGE", "ManageServices", "add_manage_routes"]
