"""Refusing requests a page on another site could make a signed-in browser send (cross-site request forgery).

A browser that holds a member's Basic credentials sends them with any request to the registry, including one a
page on another site starts. Such a page can send, without asking the registry first, only "simple" requests: a
`POST` whose body is `text/plain`, a form or `multipart/form-data`. Everything else (`application/json`, `PUT`,
`PATCH`, `DELETE`) needs a CORS preflight, which this server never approves. So the management API refuses:

- a `POST`, `PUT` or `PATCH` whose `Content-Type` is not `application/json` (415), even with an empty body;
- any request but `GET`, `HEAD` and `OPTIONS` that the browser marks as coming from elsewhere: `Sec-Fetch-Site`
  other than `same-origin` or `none` (typed or bookmarked), or an `Origin` that is not the server's own (403).

Clients other than browsers (the CLI, curl, CI scripts) send no `Origin` and no `Sec-Fetch-Site`.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from aiohttp import web
from aiohttp.typedefs import Handler

from shipshape.api.manage.context import MANAGE
from shipshape.api.manage.errors import error_response

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
_OWN_SITE = frozenset({"same-origin", "none"})


@web.middleware
async def refuse_cross_site(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.method in SAFE_METHODS or request.match_info.http_exception is not None:
        return await handler(request)  # reads, and requests no route takes (answered 404 or 405)
    if from_other_site(request):
        where = request.headers.get("Origin") or request.headers.get("Sec-Fetch-Site")
        return error_response(
            "CROSS_SITE",
            403,
            f"refused: this {request.method} came from another site ({where}); the management API acts"
            " only on requests from the server's own pages, the CLI or scripts",
        )
    if request.method in BODY_METHODS and request.content_type != "application/json":
        return error_response(
            "UNSUPPORTED_MEDIA_TYPE",
            415,
            f"send the body as JSON with Content-Type: application/json (got {request.content_type!r}), even"
            " when it is empty ({})",
        )
    return await handler(request)


def from_other_site(request: web.Request) -> bool:
    """Whether the browser says `request` was started by a page of another site (the console checks this too)."""
    site = request.headers.get("Sec-Fetch-Site")
    origin = request.headers.get("Origin")
    return (site is not None and site not in _OWN_SITE) or (origin is not None and not _own(request, origin))


def _own(request: web.Request, origin: str) -> bool:
    """Whether `origin` is this server: as the request reached it, or its public URL (behind a proxy)."""
    manage = request.config_dict.get(MANAGE)
    public_url = manage.public_url if manage is not None else None
    return origin == f"{request.scheme}://{request.host}" or (public_url is not None and origin == _origin(public_url))


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"
