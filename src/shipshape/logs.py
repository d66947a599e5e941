"""Logging set-up: human-readable lines, or one JSON object per line with `--log-json`."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger
from aiohttp.http_exceptions import HttpProcessingError

from shipshape.api.oci.access import CALLER
from shipshape.domain.access import Anonymous

# Attributes every LogRecord has; anything else was passed with `extra=` and belongs in the JSON object.
_STANDARD = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "taskName"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "pid": record.process,
            "message": record.getMessage(),
        }
        entry.update({key: value for key, value in record.__dict__.items() if key not in _STANDARD})
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


class AccessLogger(AbstractAccessLogger):
    """One record per request: client address, user, method, path (without the query, which may carry digests
    only), status, bytes sent and duration. The user is the authenticated caller of `/v2/` ("-" for anonymous
    callers and for requests access control did not look at)."""

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        user = _user(request)
        duration_ms = round(time * 1000, 2)
        self.logger.info(
            "%s %s %s %s %s %s bytes %s ms",
            request.remote or "-",
            user or "-",
            request.method,
            request.path,
            response.status,
            response.body_length,
            duration_ms,
            extra={
                "remote": request.remote,
                "user": user,
                "method": request.method,
                "path": request.path,
                "status": response.status,
                "bytes": response.body_length,
                "duration_ms": duration_ms,
            },
        )


def _user(request: web.BaseRequest) -> str | None:
    """The name of the caller access control authenticated, if any (read, never set, here)."""
    try:
        caller = request[CALLER]
    except KeyError:
        return None
    return None if isinstance(caller.principal, Anonymous) else caller.name


def configure_logging(json_lines: bool, level: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    if json_lines:
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    server = logging.getLogger("aiohttp.server")
    if not any(isinstance(f, UnparsableRequests) for f in server.filters):
        server.addFilter(UnparsableRequests())


class UnparsableRequests(logging.Filter):
    """A request aiohttp cannot parse (it answers 400 itself) is the client's mistake: one line at info, not a
    traceback at error level, which would let anyone fill the error log."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if isinstance(error, HttpProcessingError):
            reason = next((line.strip() for line in str(error.message).splitlines() if line.strip()), "")
            record.msg, record.args = "%s: %s", (record.getMessage(), reason or "unparsable request")
            record.levelno, record.levelname = logging.INFO, "INFO"
            record.exc_info, record.exc_text = None, None
        return True
