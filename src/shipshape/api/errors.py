"""The one table from domain errors to OCI error codes and HTTP statuses, and the middleware that applies it."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass

from aiohttp import web
from aiohttp.typedefs import Handler

from shipshape.domain import errors

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


@web.middleware
async def oci_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Turn domain errors into OCI error bodies; hide unexpected failures behind a generic 500."""
    try:
        return await handler(request)
    except errors.RegistryError as error:
        wire = wire_error(error)
        return error_response(wire.code, wire.status, error.message, error.detail)
    except (web.HTTPNotFound, web.HTTPMethodNotAllowed) as error:
        if not request.path.startswith("/v2/"):
            raise
        # An address outside the OCI API's routes: answer in the API's own error format.
        if isinstance(error, web.HTTPMethodNotAllowed):
            allowed = ", ".join(sorted(error.allowed_methods))
            return error_response("UNSUPPORTED", 405, f"{request.method} is not supported here; use {allowed}")
        return error_response("UNSUPPORTED", 404, f"{request.path} is not an OCI Distribution API endpoint")
    except web.HTTPException:
        raise
    except Exception:
        log.exception("unexpected error", extra={"method": request.method, "path": request.path})
        return error_response("UNKNOWN", 500, "internal server error: see the registry's log")
