"""Thin handlers for `/v2/`: they parse the request, call a service, and shape the response."""
