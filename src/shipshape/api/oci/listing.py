"""Listings: `/v2/` itself, tags with pagination, the catalog, and the referrers of a manifest."""

from __future__ import annotations

from urllib.parse import urlencode

from aiohttp import web

from shipshape.api.oci.access import pull_check
from shipshape.api.oci.context import digest_param, repository, services
from shipshape.domain import media_types as mt
from shipshape.domain.errors import PaginationInvalid

MAX_PAGE = 10_000
DEFAULT_CATALOG_PAGE = 1_000
MAX_CATALOG_SCANS = 20  # pages of the whole catalog read to fill one page of readable names


async def api_base(request: web.Request) -> web.Response:
    return web.json_response({})


async def list_tags(request: web.Request) -> web.Response:
    name = repository(request)
    limit, last = _page(request, default=None)
    tags = await services(request).manifests.tags(name, last, limit)
    response = web.json_response({"name": name, "tags": tags})
    _link_next(response, request.path, tags, limit)
    return response


async def catalog(request: web.Request) -> web.Response:
    limit, last = _page(request, default=DEFAULT_CATALOG_PAGE)
    assert limit is not None
    names, resume_after = await _readable_repositories(request, last, limit)
    response = web.json_response({"repositories": names})
    if resume_after is not None:
        query = urlencode({"last": resume_after, "n": limit})
        response.headers["Link"] = f'<{request.path}?{query}>; rel="next"'
    return response


async def referrers(request: web.Request) -> web.Response:
    name, subject = repository(request), digest_param(request)
    artifact_type = request.query.get("artifactType") or None
    body = await services(request).manifests.referrers(name, subject, artifact_type)
    response = web.Response(body=body, content_type=mt.OCI_INDEX)
    if artifact_type is not None:
        response.headers["OCI-Filters-Applied"] = "artifactType"
    return response


async def _readable_repositories(request: web.Request, last: str | None, limit: int) -> tuple[list[str], str | None]:
    """A page of the repositories the caller may pull (a caller learns nothing of the others), and where the next
    page starts, if there is one: also when the scan budget ran out before the page filled."""
    manifests, may_pull = services(request).manifests, pull_check(request)
    names: list[str] = []
    for _ in range(MAX_CATALOG_SCANS):
        batch = await manifests.repositories(last, limit)
        for name in batch:
            if await may_pull(name):
                names.append(name)
                if len(names) == limit:
                    return names, name
        if len(batch) < limit:
            return names, None
        last = batch[-1]
    return names, last


def _page(request: web.Request, default: int | None) -> tuple[int | None, str | None]:
    """The `n` (page size, capped at MAX_PAGE) and `last` (exclusive start) parameters."""
    text = request.query.get("n")
    limit = default
    if text is not None:
        if not (text.isascii() and text.isdigit()):
            raise PaginationInvalid(f"n must be a whole number between 0 and {MAX_PAGE}, not {text!r}")
        limit = min(int(text), MAX_PAGE)
    return limit, request.query.get("last") or None


def _link_next(response: web.Response, path: str, page: list[str], limit: int | None) -> None:
    """RFC 5988 `Link` to the next page when this page is full."""
    if limit and len(page) == limit:
        query = urlencode({"last": page[-1], "n": limit})
        response.headers["Link"] = f'<{path}?{query}>; rel="next"'
