"""The web console: server-rendered pages at `/ui/` over the same services as the management API."""
