"""One endpoint of the management API: its route, and what it takes and answers (for the OpenAPI document)."""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp.typedefs import Handler
from pydantic import BaseModel


@dataclass(frozen=True, slots=True)
class Operation:
    """One endpoint: how it is routed and what it takes and answers (for the OpenAPI document)."""

    method: str
    path: str  # below PREFIX, with `{name}` placeholders
    handler: Handler
    operation_id: str
    summary: str
    tag: str
    response: type[BaseModel] | None  # None: 204 No Content
    status: int = 200
    body: type[BaseModel] | None = None
    body_required: bool = True
    query: type[BaseModel] | None = None
    errors: tuple[int, ...] = ()
    also: tuple[int, ...] = ()  # further success statuses with the same body
    machines: bool = False  # credentials (e.g. CI's) may call it too, not only members

    @property
    def statuses(self) -> tuple[int, ...]:
        """Error statuses: every authenticated call may be refused, locked out or denied."""
        found = {401, 403, 429, *self.errors}
        if self.body is not None:
            found |= {400, 422}
        if self.query is not None:
            found.add(422)
        if self.method in ("POST", "PUT", "PATCH"):
            found.add(415)  # see api.manage.cross_site
        return tuple(sorted(found))
