"""The management API's errors: `{"error": {"code", "message"}}`, from one table of domain errors and statuses."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass

from aiohttp import web
from aiohttp.typedefs import Handler
from pydantic import ValidationError

from shipshape.domain import errors

log = logging.getLogger("shipshape.api.manage")


@dataclass(frozen=True, slots=True)
class ApiError:
    code: str
    status: int


# Looked up along the exception's class hierarchy, so a subclass inherits its parent's entry unless listed.
ERROR_TABLE: dict[type[errors.RegistryError], ApiError] = {
    errors.LoginLocked: ApiError("LOCKED", 429),
    errors.Unauthorized: ApiError("UNAUTHORIZED", 401),
    errors.Denied: ApiError("DENIED", 403),
    errors.NameUnknown: ApiError("NOT_FOUND", 404),
    errors.Conflict: ApiError("CONFLICT", 409),
    errors.NameInvalid: ApiError("INVALID", 422),
    errors.PasswordRejected: ApiError("PASSWORD_REJECTED", 422),
    errors.CredentialRequestInvalid: ApiError("INVALID", 422),
    errors.PolicyInvalid: ApiError("INVALID", 422),
    errors.ManifestUnknown: ApiError("NOT_FOUND", 404),
    errors.RegistryError: ApiError("BAD_REQUEST", 400),
}
# Every status an operation may answer with besides its success (for the OpenAPI document).
ERROR_STATUSES = {
    400: "Malformed request (not JSON)",
    401: "Not logged in: send Basic credentials of a member or a bearer token",
    403: "Logged in, but not allowed; or sent by a page on another site",
    404: "No such account, registry, member or credential",
    409: "Conflicts with what exists",
    422: "A field is missing, unknown, of the wrong type or out of bounds",
    415: "A write whose body is not sent as application/json",
    429: "Locked out after repeated failed logins",
}


def api_error(error: errors.RegistryError) -> ApiError:
    for cls in type(error).__mro__:
        if cls in ERROR_TABLE:
            return ERROR_TABLE[cls]
    raise LookupError(type(error))  # unreachable: RegistryError is in the table


@dataclass(frozen=True, slots=True)
class Failure:
    """How a refusal is answered, by the API as JSON and by the console as a page."""

    code: str
    status: int
    message: str
    rule: str | None = None  # the policy rule that refused


def failure_of(error: errors.RegistryError | ValidationError) -> Failure:
    """The answer to a domain error (from `ERROR_TABLE`) or to a request body that does not validate."""
    if isinstance(error, ValidationError):
        status, message = validation_message(error)
        return Failure("BAD_REQUEST" if status == 400 else "INVALID", status, message)
    wire = api_error(error)
    rule = error.rule if isinstance(error, errors.PolicyRefused) else None
    return Failure(wire.code, wire.status, error.message, rule)


def error_response(code: str, status: int, message: str, rule: str | None = None) -> web.Response:
    error = {"code": code, "message": message} | ({"rule": rule} if rule is not None else {})
    body = json.dumps({"error": error})
    response = web.Response(status=status, text=body, content_type="application/json")
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Basic realm="shipshape"'
    return response


def validation_message(error: ValidationError) -> tuple[int, str]:
    """The status and a message naming each bad field; never the values sent (a password may be among them)."""
    problems = error.errors(include_url=False, include_input=False, include_context=False)
    if any(problem["type"] == "json_invalid" for problem in problems):
        return 400, "the request body is not valid JSON: send a JSON object, see /api/v1/openapi.json"
    parts = []
    for problem in problems:
        where = ".".join(str(part) for part in problem["loc"]) or "body"
        message = problem["msg"].removeprefix("Value error, ")
        if problem["type"] == "extra_forbidden":
            message = "unknown field: remove it (see /api/v1/openapi.json for the fields this endpoint takes)"
        parts.append(f"{where}: {message}")
    return 422, "; ".join(parts)


@web.middleware
async def json_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Answer every failure under /api/v1/ in the API's JSON error form; unexpected ones as a logged 500."""
    try:
        return await handler(request)
    except (errors.RegistryError, ValidationError) as error:
        failure = failure_of(error)
        return error_response(failure.code, failure.status, failure.message, failure.rule)
    except web.HTTPNotFound:
        return error_response("NOT_FOUND", 404, f"{request.path} is not an endpoint: see /api/v1/openapi.json")
    except web.HTTPMethodNotAllowed as error:
        allowed = ", ".join(sorted(error.allowed_methods))
        response = error_response("METHOD_NOT_ALLOWED", 405, f"{request.method} is not supported here; use {allowed}")
        response.headers["Allow"] = ",".join(sorted(error.allowed_methods))
        return response
    except web.HTTPRequestEntityTooLarge:
        return error_response("TOO_LARGE", 413, "the request body is too large: send at most 1 MiB")
    except web.HTTPException:
        raise
    except Exception:
        log.exception("unexpected error", extra={"method": request.method, "path": request.path})
        return error_response("INTERNAL", 500, "internal server error: see the server's log")
