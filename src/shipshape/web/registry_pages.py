"""A registry's page (its repositories, policies in words, credentials, retention preview and checklist) and a
repository's page (its tags, who pushed them, its untagged manifests)."""

from __future__ import annotations

from typing import TypeVar

from aiohttp import web

from shipshape.domain.access import Registry, split_repository
from shipshape.domain.errors import Unsupported
from shipshape.domain.policies import preset
from shipshape.domain.policy_words import describe
from shipshape.services import rights
from shipshape.services.images import ImageDetails
from shipshape.services.inventory import ListedImage
from shipshape.web.context import actor, manage, signed_in
from shipshape.web.credential_health import reaching
from shipshape.web.overview import registry_host
from shipshape.web.render import render
from shipshape.web.repositories import Origin, page_number, paged, search, summarize, tag_rows, top_level, untagged

_S = TypeVar("_S")
UNTAGGED_SHOWN = 50  # the newest; retention rules are the way to clear more


def available(service: _S | None, what: str) -> _S:
    """A service the page needs; a server without it answers that it cannot show this."""
    if service is None:
        raise Unsupported(f"{what} is not available on this server")
    return service


async def registry(request: web.Request) -> web.Response:
    services, who = manage(request), actor(request)
    name = request.match_info["name"]
    found = await services.administration.get_registry(who, name)
    images = await available(services.inventory, "listing images").list_images(who.member, name)
    query = request.query.get("q", "")
    repositories = summarize(images)
    shown = paged(search(repositories, query), page_number(request.query.get("page")))
    credentials = None
    if rights.may_manage(who.member, found.account, "credentials") is None:  # others are not shown them
        credentials = reaching(
            await services.administration.list_credentials(who, found.account), name, services.clock.now()
        )
    retention = available(services.retention, "retention")
    _, rules = await retention.show(who, name)
    preview = await retention.preview(who, name) if rules is not None else None
    checklist = await available(services.checklist, "the checklist").check(who, name)
    context = {
        "registry": found,
        "policy": describe(found.rules),
        "is_preset": found.rules == preset(found.environment),
        "repositories": shown,
        "repository_count": len(repositories),
        "image_count": len(top_level(images)),
        "stored_bytes": sum(each.bytes for each in repositories),
        "query": query,
        "credentials": credentials,
        "retention_rules": rules,
        "preview": preview,
        "checklist": checklist,
        "host": registry_host(request),
    }
    return render(request, "registry.html", context)


async def repository(request: web.Request) -> web.Response:
    services, who = manage(request), actor(request)
    path = request.match_info["path"].strip("/")
    name, inside = split_repository(path)
    found = await services.administration.get_registry(who, name)
    listed = await available(services.inventory, "listing images").list_images(who.member, path)
    images = [each for each in listed if each.image.repository == path]  # a root repository's listing is all
    rows = paged(tag_rows(top_level(images), _immutability(found, images)), page_number(request.query.get("page")))
    dangling = untagged(images)
    shown_untagged = dangling[:UNTAGGED_SHOWN]
    digests = {row.listed.image.digest for row in rows.rows} | {each.image.digest for each in shown_untagged}
    details = await _details(request, path, digests)
    context = {
        "registry": found,
        "repository_path": path,
        "name": inside or path,  # a path with no `/` is the registry's root repository
        "rows": rows,
        "untagged": shown_untagged,
        "untagged_count": len(dangling),
        "origins": {digest: Origin.of(image.provenance) for digest, image in details.items()},
        "host": registry_host(request),
        "latest_tag": rows.rows[0].tag if rows.rows else None,
    }
    return render(request, "repository.html", context)


def _immutability(found: Registry, images: list[ListedImage]) -> dict[str, bool]:
    return {tag: found.rules.tag_is_immutable(tag) for each in images for tag in each.image.tags}


async def _details(request: web.Request, path: str, digests: set[str]) -> dict[str, ImageDetails]:
    """`image show` of each digest (at most a page's): who pushed or promoted it."""
    images = available(manage(request).images, "showing images")
    member = signed_in(request).member
    return {digest: await images.show(member, f"{path}@{digest}") for digest in sorted(digests)}
