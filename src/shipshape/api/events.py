"""Where handlers publish registry events (`EventSink`): set by the composition root when webhooks are on.

Handlers read it with `request.config_dict.get(EVENTS)`; it is absent without authentication (no webhooks then).
"""

from __future__ import annotations

from aiohttp import web

from shipshape.ports import EventSink

EVENTS: web.AppKey[EventSink] = web.AppKey("event_sink")
