"""A request aiohttp cannot parse leaves one line at info in the log, not a traceback at error level."""

from __future__ import annotations

import logging
import sys

import pytest
from aiohttp.http_exceptions import BadHttpMessage

from shipshape.logs import configure_logging


def test_an_unparsable_request_is_one_line_at_info(caplog: pytest.LogCaptureFixture) -> None:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    configure_logging(json_lines=False, level="info")
    root.addHandler(caplog.handler)
    server = logging.getLogger("aiohttp.server")
    try:
        try:
            raise BadHttpMessage("Invalid header token:\n\n  b'Bad\\x01Name: y'\n       ^")
        except BadHttpMessage:
            server.exception("Error handling request from %s", "127.0.0.1", exc_info=sys.exc_info())
        try:
            raise RuntimeError("a real fault")
        except RuntimeError:
            server.exception("Error handling request from %s", "127.0.0.1")
    finally:
        root.handlers[:], root.level = handlers, level
    unparsable, fault = [r for r in caplog.records if r.name == "aiohttp.server"]
    assert (unparsable.levelno, unparsable.exc_info) == (logging.INFO, None)
    assert unparsable.getMessage() == "Error handling request from 127.0.0.1: Invalid header token:"
    assert fault.levelno == logging.ERROR and fault.exc_info is not None  # our own errors keep their traceback
