"""Credentials: list, create (the secret shown once), rotate, reset, revoke; Kubernetes pull secrets.

A new secret is rendered in the answer to the form that made it, never redirected to: it must not be stored, nor put
in an address or a cookie (and every console page is `Cache-Control: no-store`). Forms are read into the management
API's own request models, so the console takes exactly what the API takes.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import timedelta
from typing import Any, TypeVar

from aiohttp import web
from multidict import MultiDictProxy

from shipshape.api.manage.models import (
    CredentialCreate,
    CredentialOut,
    PullSecretCreate,
    RequestBody,
    ResetRequest,
    RotateRequest,
)
from shipshape.domain.access import Action, CredentialKind, Registry
from shipshape.domain.policies import Environment
from shipshape.services import rights
from shipshape.services.administration import IssuedPullSecret, IssuedSecret, PullSecretRequest
from shipshape.services.credentials import home_registry
from shipshape.web.context import actor, manage, signed_in, url
from shipshape.web.credential_rows import KIND_SENTENCES, credential_rows, scopes_in_words
from shipshape.web.overview import registry_host
from shipshape.web.render import redirect, render

DEFAULT_NAMESPACE = "default"  # the namespace of the pull secret shown with a new pull credential
_ENVIRONMENTS = list(Environment)

Form = MultiDictProxy[Any]
Body = TypeVar("Body", bound=RequestBody)


async def credentials(request: web.Request) -> web.Response:
    """The account's credentials, and (for its owners and admins) the forms that make new ones."""
    member = signed_in(request).member
    refusal = rights.may_manage(member, member.account, "credentials")
    if refusal is not None:  # the list is the managers' too: say so, rather than record a refused attempt
        return render(request, "credentials.html", {"refusal": refusal.message, "rows": [], "registries": []})
    services, who = manage(request), actor(request)
    found = await services.administration.list_credentials(who)
    registries = await services.administration.list_registries(who)
    return render(
        request,
        "credentials.html",
        {
            "refusal": None,
            "rows": credential_rows(found, services.clock.now()),
            "registries": sorted(registries, key=_environment_order),
            "kinds": KIND_SENTENCES,
            "actions": list(Action),
            "namespace": DEFAULT_NAMESPACE,
        },
    )


async def create(request: web.Request) -> web.Response:
    single, multiple = ("name", "kind", "repositories", "expires_in"), ("registries", "actions")
    body = _body(CredentialCreate, await request.post(), single, multiple)
    issued = await manage(request).administration.create_credential(actor(request), body.request())
    return await _issued_page(request, issued, "created")


async def act(request: web.Request) -> web.Response:
    """Rotate, reset or revoke the credential `username`."""
    username, action = request.match_info["username"], request.match_info["action"]
    if action not in ("rotate", "reset", "revoke"):
        raise web.HTTPNotFound()
    administration, who, form = manage(request).administration, actor(request), await request.post()
    if action == "revoke":
        await administration.revoke_credential(who, username)
        raise redirect(request, url("/credentials"), f"{username} is revoked: it can no longer log in.")
    if action == "rotate":
        rotate = _body(RotateRequest, form, ("grace", "expires_in"))
        issued = await administration.rotate_credential(who, username, rotate.grace, rotate.expires_in)
        return await _issued_page(request, issued, "rotated", rotate.grace)
    reset = _body(ResetRequest, form, ("expires_in",))
    issued = await administration.reset_credential(who, username, reset.expires_in)
    return await _issued_page(request, issued, "reset")


async def pull_secret(request: web.Request) -> web.Response:
    """A Kubernetes pull secret: with a new pull-only credential, or with the given credential and its secret."""
    names = ("registry", "namespace", "secret_name", "service_account", "credential", "secret")
    body = _body(PullSecretCreate, await request.post(), names)
    issued = await _pull_secret(request, body)
    return render(
        request,
        "credential_pull_secret.html",
        {"pull": issued, "registry": body.registry, "namespace": body.namespace, "host": registry_host(request)},
    )


async def _issued_page(
    request: web.Request, issued: IssuedSecret, event: str, grace: timedelta | None = None
) -> web.Response:
    """The page that shows a new secret, the only time it is shown; for a pull credential, its pull secret too.
    `grace`: how long the secret a rotation replaced keeps working."""
    credential, now = issued.credential, manage(request).clock.now()
    registry = home_registry(credential)
    pull: IssuedPullSecret | None = None
    if credential.kind is CredentialKind.PULL and registry is not None:
        body = PullSecretCreate(
            registry=registry, namespace=DEFAULT_NAMESPACE, credential=credential.username, secret=issued.secret
        )
        pull = await _pull_secret(request, body)
    return render(
        request,
        "credential_issued.html",
        {
            "issued": issued,
            "credential": CredentialOut.of(credential, now),
            "scopes": scopes_in_words(credential.scopes),
            "event": event,
            "previous_until": now + grace if grace else None,
            "host": registry_host(request),
            "pull": pull,
            "registry": registry,
            "namespace": DEFAULT_NAMESPACE,
        },
    )


async def _pull_secret(request: web.Request, body: PullSecretCreate) -> IssuedPullSecret:
    return await manage(request).administration.pull_secret(
        actor(request),
        PullSecretRequest(
            registry=body.registry,
            namespace=body.namespace,
            server=registry_host(request),
            secret_name=body.secret_name,
            service_account=body.service_account,
            credential=body.credential,
            secret=body.secret,
        ),
    )


def _body(model: type[Body], form: Form, single: Iterable[str], multiple: Iterable[str] = ()) -> Body:
    """The management API's request `model` for a form, read as the API reads its JSON body: the form's non-empty
    text `single` fields, and each `multiple` field (ticked checkboxes) as a list when any is ticked. Empty fields
    are left out, so that the model's defaults apply; a `ValidationError` is the guard's 422 page."""
    body: dict[str, object] = {}
    for name in single:
        value = form.get(name)
        if isinstance(value, str) and value.strip():
            body[name] = value.strip()
    for name in multiple:
        values = [value for value in form.getall(name, []) if isinstance(value, str) and value]
        if values:
            body[name] = values
    return model.model_validate_json(json.dumps(body))


def _environment_order(registry: Registry) -> tuple[int, str]:
    return _ENVIRONMENTS.index(registry.environment), registry.name
