"""The one table from domain errors to OCI error codes and HTTP statuses, and the middleware that applies it."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass

from aiohttp import web
from aiohttp.typedefs import Handler

from shipshape.api.manage import errors as manage_errors
from shipshape.api.oci.access import ACCESS, SERVICE
from shipshape.auth.tokens import bearer_challenge
from shipshape.domain import errors
from shipshape.domain.names import validate_name

log = logging.getLogger("shipshape.api")


@dataclass(frozen=True, slots=True)
class WireError:
    code: str
    status: int


# Looked up along the exception's class hierarchy, so a subclass inherits its parent's entry unless listed.
ERROR_TABLE: dict[type[errors.RegistryError], WireError] = {
    errors.NameInvalid: WireError("NAME_INVALID", 400),
    errors.NameUnknown: WireError("NAME_UNKNOWN", 404),
    errors.TagInvalid: WireError("TAG_INVALID", 400),
    errors.DigestInvalid: WireError("DIGEST_INVALID", 400),
    errors.BlobUnknown: WireError("BLOB_UNKNOWN", 404),
    errors.BlobUploadUnknown: WireError("BLOB_UPLOAD_UNKNOWN", 404),
    errors.BlobUploadInvalid: WireError("BLOB_UPLOAD_INVALID", 400),
    errors.RangeInvalid: WireError("BLOB_UPLOAD_INVALID", 416),
    errors.ManifestInvalid: WireError("MANIFEST_INVALID", 400),
    errors.ManifestTooLarge: WireError("MANIFEST_INVALID", 413),
    errors.ManifestUnknown: WireError("MANIFEST_UNKNOWN", 404),
    errors.ChildManifestUnknown: WireError("MANIFEST_UNKNOWN", 400),
    errors.ManifestBlobUnknown: WireError("MANIFEST_BLOB_UNKNOWN", 400),
    errors.PaginationInvalid: WireError("PAGINATION_NUMBER_INVALID", 400),
    errors.Conflict: WireError("DENIED", 409),
    errors.Unsupported: WireError("UNSUPPORTED", 400),
    errors.Unauthorized: WireError("UNAUTHORIZED", 401),
    errors.Denied: WireError("DENIED", 403),
    errors.LoginLocked: WireError("TOOMANYREQUESTS", 429),
    errors.PasswordRejected: WireError("DENIED", 400),
    errors.CredentialRequestInvalid: WireError("DENIED", 400),
    errors.ScopeInvalid: WireError("DENIED", 400),
    errors.PolicyInvalid: WireError("DENIED", 400),
    errors.RegistryError: WireError("UNKNOWN", 400),
}


def wire_error(error: errors.RegistryError) -> WireError:
    for cls in type(error).__mro__:
        if cls in ERROR_TABLE:
            return ERROR_TABLE[cls]
    raise LookupError(type(error))  # unreachable: RegistryError is in the table


def error_response(code: str, status: int, message: str, detail: object | None = None) -> web.Response:
    body = {"errors": [{"code": code, "message": message, "detail": detail}]}
    return web.Response(status=status, text=json.dumps(body), content_type="application/json")


# Where the Authorization header is read; elsewhere (/healthz, /metrics) it is ignored like any other header.
CREDENTIAL_PATHS = ("/v2", "/auth/token", "/api/")
UNREADABLE_CREDENTIALS = (
    "malformed Authorization header: credentials are ASCII; for Basic, send base64 of username:secret in UTF-8"
)


@web.middleware
async def oci_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Turn domain errors into OCI error bodies; hide unexpected failures behind a generic 500.

    Every request gets a JSON answer: an address without a route, and what the request's own path or headers
    make unreadable, are refused here before a handler (or a header built from them) meets them."""
    refused = _unreadable_credentials(request)
    if refused is not None:
        return refused
    try:
        if request.path.startswith("/v2/") and "name" in request.match_info:
            # Before anything else uses it: the access check puts the name into its challenge header, where a
            # control character (%00, %0a, %7f) would make the response unsendable and drop the connection.
            validate_name(request.match_info["name"])
        return await handler(request)
    except errors.RegistryError as error:
        wire = wire_error(error)
        return error_response(wire.code, wire.status, error.message, error.detail)
    except web.HTTPMethodNotAllowed as error:
        allowed = ", ".join(sorted(error.allowed_methods))
        response = error_response("UNSUPPORTED", 405, f"{request.method} is not supported here; use {allowed}")
        response.headers["Allow"] = ",".join(sorted(error.allowed_methods))
        return response
    except web.HTTPNotFound:
        # An address outside every route (the management API answers its own): say where the APIs are.
        if request.path.startswith("/v2/"):
            return error_response("UNSUPPORTED", 404, f"{request.path!r} is not an OCI Distribution API endpoint")
        return error_response(
            "UNSUPPORTED",
            404,
            f"{request.path!r} is not an endpoint of this registry: the OCI API is under /v2/, the management"
            " API under /api/v1/ (see /api/v1/openapi.json)",
        )
    except web.HTTPException:
        raise
    except Exception:
        log.exception("unexpected error", extra={"method": request.method, "path": request.path})
        return error_response("UNKNOWN", 500, "internal server error: see the registry's log")


def _unreadable_credentials(request: web.Request) -> web.Response | None:
    """A 401 for an Authorization header that is not ASCII, where credentials are read; None otherwise.

    Credentials are ASCII by their grammar (RFC 9110's token68 and auth-params), so no scheme accepts such a
    header. Refused before any decoder sees it: aiohttp keeps the bytes of a header that are not UTF-8 as
    surrogate escapes, which every later `encode()` (base64, JWT) fails on.
    """
    header = request.headers.get("Authorization")
    if header is None or header.isascii() or not request.path.startswith(CREDENTIAL_PATHS):
        return None
    access = request.config_dict.get(ACCESS)
    if access is None:  # authentication is off: nothing reads the header
        return None
    if request.path.startswith("/api/"):
        return manage_errors.error_response("UNAUTHORIZED", 401, UNREADABLE_CREDENTIALS)
    response = error_response("UNAUTHORIZED", 401, UNREADABLE_CREDENTIALS)
    response.headers["WWW-Authenticate"] = bearer_challenge(access.realm(request), SERVICE)
    return response
