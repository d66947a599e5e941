"""The management API's route table, its authentication, and `add_manage_routes`, which mounts it at `/api/v1`.

The table is the single source of the routes and of the OpenAPI document (`shipshape.api.manage.openapi`).
"""

from __future__ import annotations

from aiohttp import web
from aiohttp.typedefs import Handler

from shipshape.api.manage import (
    accounts,
    audit,
    checklist,
    credentials,
    images,
    kubernetes,
    lifecycle,
    members,
    promotions,
    registries,
    usage,
    webhooks,
)
from shipshape.api.manage import checklist_models as cm
from shipshape.api.manage import image_models as im
from shipshape.api.manage import lifecycle_models as lm
from shipshape.api.manage import models as m
from shipshape.api.manage import usage_models as um
from shipshape.api.manage import webhook_models as wm
from shipshape.api.manage.context import ACTOR, MANAGE, PRINCIPAL
from shipshape.api.manage.cross_site import refuse_cross_site
from shipshape.api.manage.errors import error_response, json_errors
from shipshape.api.manage.openapi import openapi_document
from shipshape.api.manage.operations import Operation
from shipshape.api.oci.access import ACCESS, CALLER
from shipshape.domain.access import Anonymous, Member
from shipshape.domain.errors import Denied, Unauthorized
from shipshape.services.administration import Actor

PREFIX = "/api/v1"
OPENAPI_ROUTE = "openapi"


_READ = (404,)
_CREATE = (404, 409)
OPERATIONS: tuple[Operation, ...] = (
    Operation("GET", "/me", accounts.me, "whoami", "Who the caller is", "accounts", m.Me),
    Operation("GET", "/accounts", accounts.list_accounts, "listAccounts", "List accounts", "accounts", m.AccountList),
    Operation(
        "POST", "/accounts", accounts.create_account, "createAccount", "Create an account (server administrators)",
        "accounts", m.AccountOut, 201, body=m.AccountCreate, errors=(409,),
    ),
    Operation(
        "PUT", "/accounts/{name}/quota", accounts.set_quota, "setAccountQuota",
        "Change an account's storage quota (server administrators)", "accounts", m.AccountOut,
        body=m.QuotaSet, errors=(404,),
    ),
    Operation(
        "GET", "/registries", registries.list_registries, "listRegistries", "List registries", "registries",
        m.RegistryList, query=m.AccountQuery, errors=_READ,
    ),
    Operation(
        "POST", "/registries", registries.create_registry, "createRegistry", "Create a registry", "registries",
        m.RegistryOut, 201, body=m.RegistryCreate, errors=_CREATE,
    ),
    Operation(
        "GET", "/registries/{name}", registries.show_registry, "showRegistry", "Show a registry", "registries",
        m.RegistryOut, errors=_READ,
    ),
    Operation(
        "PATCH", "/registries/{name}/policy", registries.set_policy, "setRegistryPolicy",
        "Change some of a registry's policy fields", "registries", m.RegistryOut, body=m.PolicyChange,
        errors=(404, 422),
    ),
    Operation(
        "DELETE", "/registries/{name}", registries.delete_registry, "deleteRegistry",
        "Delete a registry that holds no repositories", "registries", None, 204, errors=(404, 409),
    ),
    Operation(
        "POST", "/promotions", promotions.promote, "promote",
        "Promote an image by digest into another registry, with its referrers; no bytes are copied."
        " Members and machine credentials (pull on the source, push on the target) may call it",
        "promotions", im.PromotionOut, 201, body=im.PromotionCreate, errors=(404, 409), machines=True,
    ),
    Operation(
        "GET", "/members", members.list_members, "listMembers", "List an account's members", "members",
        m.MemberList, query=m.AccountQuery, errors=_READ,
    ),
    Operation(
        "POST", "/members", members.add_member, "addMember", "Add a member to an account", "members", m.MemberOut,
        201, body=m.MemberCreate, errors=_CREATE,
    ),
    Operation(
        "DELETE", "/members/{username}", members.remove_member, "removeMember", "Remove a member", "members", None,
        204, errors=_READ,
    ),
    Operation(
        "PUT", "/members/{username}/password", members.set_password, "setPassword", "Set a member's password",
        "members", None, 204, body=m.PasswordChange, errors=_READ,
    ),
    Operation(
        "GET", "/credentials", credentials.list_credentials, "listCredentials",
        "List an account's credentials (never their secrets)", "credentials", m.CredentialList, query=m.AccountQuery,
        errors=_READ,
    ),
    Operation(
        "POST", "/credentials", credentials.create_credential, "createCredential",
        "Create a credential; its secret is in this response only", "credentials", m.IssuedSecretOut, 201,
        body=m.CredentialCreate, errors=_CREATE,
    ),
    Operation(
        "GET", "/credentials/{username}", credentials.show_credential, "showCredential", "Show a credential",
        "credentials", m.CredentialOut, errors=_READ,
    ),
    Operation(
        "POST", "/credentials/{username}/rotate", credentials.rotate_credential, "rotateCredential",
        "A new secret; the old one works for a grace window", "credentials", m.IssuedSecretOut,
        body=m.RotateRequest, body_required=False, errors=(404, 409),
    ),
    Operation(
        "POST", "/credentials/{username}/reset", credentials.reset_credential, "resetCredential",
        "A new secret; the old one stops working at once", "credentials", m.IssuedSecretOut,
        body=m.ResetRequest, body_required=False, errors=(404, 409),
    ),
    Operation(
        "POST", "/credentials/{username}/revoke", credentials.revoke_credential, "revokeCredential",
        "End a credential for good", "credentials", m.CredentialOut, errors=_READ,
    ),
    Operation(
        "GET", "/audit", audit.audit_events, "auditEvents", "The audit trail, newest first", "audit", m.AuditList,
        query=m.AuditQuery, errors=_READ,
    ),
    Operation(
        "POST", "/pull-secrets", kubernetes.create_pull_secret, "createPullSecret",
        "YAML for a Kubernetes pull secret (201: with a new pull-only credential; 200: reusing one)", "kubernetes",
        m.PullSecretOut, 201, body=m.PullSecretCreate, errors=_CREATE, also=(200,),
    ),
    Operation(
        "GET", "/webhooks", webhooks.list_webhooks, "listWebhooks",
        "List webhooks of an account or registry (never their secrets)", "webhooks", wm.WebhookList,
        query=wm.WebhookQuery, errors=_READ,
    ),
    Operation(
        "POST", "/webhooks", webhooks.create_webhook, "createWebhook",
        "Create a webhook; its signing secret is in this response only", "webhooks", wm.WebhookCreated, 201,
        body=wm.WebhookCreate, errors=_READ,
    ),
    Operation(
        "DELETE", "/webhooks/{id}", webhooks.delete_webhook, "deleteWebhook", "Delete a webhook and its deliveries",
        "webhooks", None, 204, errors=_READ,
    ),
    Operation(
        "GET", "/webhooks/{id}/deliveries", webhooks.list_deliveries, "listWebhookDeliveries",
        "A webhook's deliveries, newest first", "webhooks", wm.DeliveryList, query=wm.DeliveryQuery, errors=_READ,
    ),
    Operation(
        "GET", "/images", images.show_image, "showImage",
        "Show an image: provenance, tags, annotations and config labels, sizes, referrers. Members and machine"
        " credentials that may pull the repository may call it",
        "images", im.ImageOut, query=im.ImageQuery, errors=(400, 404), machines=True,
    ),
    Operation(
        "GET", "/registries/{name}/images", lifecycle.list_images, "listImages",
        "List a registry's images (or one repository's): tags, digest, size, pushed, last pulled. Members and"
        " machine credentials see the repositories they may pull", "images", lm.ImageSummaryList,
        query=lm.ImageListQuery, errors=(400, 404), machines=True,
    ),
    Operation(
        "DELETE", "/images", lifecycle.delete_image, "deleteImage",
        "Delete an image by digest (with its tags), or a tag (and the image once no other tag points at it);"
        " the registry's policies apply. Members and machine credentials that may delete there may call it",
        "images", lm.ImageDeletionOut, query=lm.ImageDeleteQuery, errors=(400, 404, 409), machines=True,
    ),
    Operation(
        "GET", "/registries/{name}/retention", lifecycle.show_retention, "showRetention",
        "A registry's retention rules (null: none)", "retention", lm.RetentionOut, errors=_READ,
    ),
    Operation(
        "PUT", "/registries/{name}/retention", lifecycle.set_retention, "setRetention",
        "Replace a registry's retention rules with a YAML or JSON document, or its environment's preset",
        "retention", lm.RetentionOut, body=lm.RetentionSet, errors=(404, 422),
    ),
    Operation(
        "DELETE", "/registries/{name}/retention", lifecycle.clear_retention, "clearRetention",
        "Remove a registry's retention rules: nothing expires any more", "retention", None, 204, errors=_READ,
    ),
    Operation(
        "GET", "/registries/{name}/retention/preview", lifecycle.preview_retention, "previewRetention",
        "Exactly what a retention run would delete now, the rule that selects each, what stays and why, and the"
        " bytes it would free", "retention", lm.RetentionReportOut, errors=_READ,
    ),
    Operation(
        "POST", "/registries/{name}/retention/run", lifecycle.run_retention, "runRetention",
        "Apply the retention rules now: deletes what the preview lists, each deletion audited", "retention",
        lm.RetentionReportOut, errors=(404, 409),
    ),
    Operation(
        "POST", "/gc", lifecycle.collect_garbage, "collectGarbage",
        "Run garbage collection now (server administrators): delete blobs and uploads nothing references, older"
        " than the grace period; pushes and pulls go on meanwhile", "lifecycle", lm.GcReport,
        body=lm.GcRequest, body_required=False, errors=(409,),
    ),
    Operation(
        "GET", "/usage", usage.show_usage, "showUsage",
        "What an account (or one registry) stores against the account's quota: totals, per registry and"
        " repository, the largest images and layers, images not pulled, growth since the previous tag, daily"
        " history", "usage", um.UsageOut, query=um.UsageQuery, errors=_READ,
    ),
    Operation(
        "GET", "/registries/{name}/checklist", checklist.registry_checklist, "registryChecklist",
        "A registry's production-readiness checklist: each item passed or failed, its evidence and the command"
        " that fixes it (the same shape as /checklist, with this one registry)", "checklist", cm.ChecklistOut,
        errors=_READ,
    ),
    Operation(
        "GET", "/checklist", checklist.checklist, "checklist",
        "The production-readiness checklist of every registry the caller may read (of one account with"
        " ?account=)", "checklist", cm.ChecklistOut, query=m.AccountQuery, errors=_READ,
    ),
)  # fmt: skip


_MACHINES_ALLOWED = {operation.operation_id: operation.machines for operation in OPERATIONS}


@web.middleware
async def authenticate(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Find the member a request acts for, by Basic credentials (a member's password) only: a bearer token is
    scoped to repositories and short-lived, and must not open account management."""
    if request.match_info.http_exception is not None or request.match_info.route.name == OPENAPI_ROUTE:
        return await handler(request)
    access = request.config_dict.get(ACCESS)
    if access is None or request.config_dict.get(MANAGE) is None:
        return error_response(
            "UNAVAILABLE", 503, "the management API needs authentication: start the server with --auth"
        )
    caller = await access.caller(request)
    request[CALLER] = caller  # for the access log's user
    principal = caller.principal
    if caller.token is not None:
        raise Unauthorized("the management API takes a member's username and password (Basic), not a bearer token")
    if isinstance(principal, Anonymous):
        raise Unauthorized("log in: send a member's username and password (Basic)")
    if _MACHINES_ALLOWED.get(request.match_info.route.name or ""):
        request[PRINCIPAL] = principal
        if isinstance(principal, Member):
            request[ACTOR] = Actor(principal, request.remote)
        return await handler(request)
    if not isinstance(principal, Member):
        raise Denied(
            f"{principal.username} is a machine credential, for pushing and pulling: the management API is for"
            " members; log in with a member's username and password"
        )
    request[ACTOR] = Actor(principal, request.remote)
    return await handler(request)


async def openapi(request: web.Request) -> web.Response:
    return web.json_response(openapi_document(OPERATIONS, PREFIX))


def add_manage_routes(app: web.Application) -> None:
    """Mount the management API at /api/v1; it reads its services from `app[MANAGE]` and `app[ACCESS]`."""
    api = web.Application(middlewares=[json_errors, refuse_cross_site, authenticate])
    api.router.add_get("/openapi.json", openapi, name=OPENAPI_ROUTE)
    for operation in OPERATIONS:
        api.router.add_route(operation.method, operation.path, operation.handler, name=operation.operation_id)
    app.add_subapp(PREFIX, api)
