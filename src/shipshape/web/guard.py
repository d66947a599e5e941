"""What stands before every console page: security headers, the session, the form token, and error pages.

- Every answer carries a Content Security Policy that allows only this server's own scripts, styles and images
  (no inline script or style anywhere), refuses framing, and limits form targets to this server.
- A page needs a signed-in member (`SIGNED_IN`); without one, the browser is sent to the sign-in page.
- Every `POST` must come from this server's own pages (`Origin` / `Sec-Fetch-Site`, as the management API checks)
  and, once signed in, carry the session's form token: the cookie is `SameSite=Strict` as well, so a page on
  another site has three walls to pass.
- A refusal by a service (`Denied`, `NameUnknown`, a policy's refusal…) is an HTML page that says what refused and
  what to do, with the status the management API would answer; nothing unexpected leaks past a logged 500.
"""

from __future__ import annotations

import hmac
import logging
from urllib.parse import quote

from aiohttp import web
from aiohttp.typedefs import Handler
from pydantic import ValidationError

from shipshape.api.manage.context import MANAGE
from shipshape.api.manage.cross_site import SAFE_METHODS, from_other_site
from shipshape.api.manage.errors import failure_of
from shipshape.api.oci.access import ACCESS
from shipshape.domain import errors
from shipshape.domain.access import Member
from shipshape.web.context import PREFIX, SESSION_COOKIE, SIGNED_IN, SignedIn, console
from shipshape.web.render import render

log = logging.getLogger("shipshape.web")

CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "frame-ancestors 'none'",
        "form-action 'self'",
        "base-uri 'none'",
        "object-src 'none'",
    )
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}
PUBLIC_ROUTES = frozenset({"console.sign_in", "console.sign_in_form", "console.static"})
CSRF_FIELD = "csrf"


@web.middleware
async def secure_headers(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        response = await handler(request)
    except web.HTTPException as error:  # redirects, 404s: headers on them too
        error.headers.update(SECURITY_HEADERS)
        raise
    response.headers.update(SECURITY_HEADERS)
    if request.match_info.route.name != "console.static":
        response.headers["Cache-Control"] = "no-store"  # pages show secrets once, and state that changes
    return response


@web.middleware
async def error_pages(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Refusals and failures as pages; 404 for addresses no page has."""
    try:
        return await handler(request)
    except (errors.RegistryError, ValidationError) as error:
        failure = failure_of(error)
        # "body: …" is the API naming the whole request body; on a page the form goes without saying.
        return _error_page(request, failure.status, failure.message.replace("body: ", ""), failure.rule)
    except web.HTTPNotFound:
        return _error_page(request, 404, f"there is no page at {request.path}")
    except web.HTTPMethodNotAllowed:
        return _error_page(request, 405, f"{request.method} is not supported here")
    except web.HTTPException:
        raise
    except Exception:
        log.exception("unexpected error", extra={"method": request.method, "path": request.path})
        return _error_page(request, 500, "internal server error: see the server's log")


@web.middleware
async def require_session(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Find the signed-in member; send strangers to sign in; check the origin and form token of every post."""
    if request.match_info.http_exception is not None:
        return await handler(request)
    if request.config_dict.get(MANAGE) is None or request.config_dict.get(ACCESS) is None:
        return _error_page(request, 503, "the console needs authentication: start the server with --auth (the default)")
    if request.method not in SAFE_METHODS and from_other_site(request):
        return _error_page(request, 403, "refused: this form was sent from another site, not from this console")
    public = request.match_info.route.name in PUBLIC_ROUTES
    signed = await _signed_in(request)
    if signed is None:
        if public:
            return await handler(request)
        if request.method in SAFE_METHODS:
            raise web.HTTPSeeOther(f"{PREFIX}/sign-in?next={quote(request.path_qs, safe='')}")
        return _error_page(request, 401, "your session has ended: sign in again, then repeat what you did")
    request[SIGNED_IN] = signed
    if request.method not in SAFE_METHODS and not public:
        form = await request.post()
        sent = form.get(CSRF_FIELD)
        if not isinstance(sent, str) or not hmac.compare_digest(sent.encode(), signed.session.csrf.encode()):
            return _error_page(
                request, 403, "refused: the form's security token is missing or stale; reload the page and try again"
            )
    return await handler(request)


async def _signed_in(request: web.Request) -> SignedIn | None:
    cookie = request.cookies.get(SESSION_COOKIE)
    if not cookie:
        return None
    access = request.config_dict[ACCESS]
    session = console(request).sessions.read(cookie, access.clock.now())
    if session is None:
        return None
    principal = await access.authenticator.principal(session.username)
    if not isinstance(principal, Member) or principal.password_id is None:
        return None  # removed, or a credential's name
    if not hmac.compare_digest(principal.password_id.encode(), session.password_id.encode()):
        return None  # the password changed: every session of the old one is over
    return SignedIn(principal, session)


def _error_page(request: web.Request, status: int, message: str, rule: str | None = None) -> web.Response:
    return render(request, "error.html", {"status": status, "message": message, "rule": rule}, status=status)
