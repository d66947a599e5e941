"""The audit page's own narrowing (by actor, action and result) and pagination, over the events the audit service
returned (it narrows by account, registry and time itself)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from shipshape.domain.access import AuditEvent

PER_PAGE = 50
RESULTS = ("success", "failure", "denied", "locked")
# What the audit trail records; the action menu also offers any other action among the events shown.
KNOWN_ACTIONS = (
    "login", "manifest.push", "manifest.delete", "blob.delete", "image.promote",
    "credential.create", "credential.rotate", "credential.reset", "credential.revoke", "pull_secret.create",
    "registry.create", "registry.delete", "registry.policy", "member.add", "member.remove", "member.password",
    "retention.set", "retention.run", "retention.delete", "gc.run", "usage.alert", "webhook.create",
    "webhook.delete", "audit.read",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class AuditFilter:
    """What the reader narrows the log to; an empty field narrows nothing.

    - `actor`: part of the actor's or the credential's name, any case (`ci` finds `acme-ci-1a2b`).
    - `action`: an action (`manifest.push`) or a family of them (`credential` finds `credential.rotate`).
    - `result`: exactly one of `RESULTS`.
    """

    actor: str = ""
    action: str = ""
    result: str = ""

    def admits(self, event: AuditEvent) -> bool:
        return self._actor_matches(event) and self._action_matches(event) and self._result_matches(event)

    def _actor_matches(self, event: AuditEvent) -> bool:
        needle = self.actor.strip().lower()
        names = (event.actor, event.credential or "")
        return not needle or any(needle in name.lower() for name in names)

    def _action_matches(self, event: AuditEvent) -> bool:
        wanted = self.action.strip().lower()
        return not wanted or event.action == wanted or event.action.startswith(f"{wanted}.")

    def _result_matches(self, event: AuditEvent) -> bool:
        return not self.result or event.result == self.result


@dataclass(frozen=True, slots=True)
class EventPage:
    """One page of the narrowed log: its events, its number, and whether older ones follow."""

    events: tuple[AuditEvent, ...]
    number: int
    more: bool
    total: int  # events that passed the filter, on every page
    per_page: int = PER_PAGE

    @property
    def first(self) -> int:
        """The position (from 1) of the page's first event in the narrowed log; 0 when the page is empty."""
        return (self.number - 1) * self.per_page + 1 if self.events else 0

    @property
    def last(self) -> int:
        return self.first + len(self.events) - 1 if self.events else 0


def filter_events(events: Iterable[AuditEvent], criteria: AuditFilter) -> list[AuditEvent]:
    """The events `criteria` admits, in the order given (the service's: newest first)."""
    return [event for event in events if criteria.admits(event)]


def paginate(events: Sequence[AuditEvent], number: int, per_page: int = PER_PAGE) -> EventPage:
    """Page `number` (from 1) of `events`; a page past the end is empty."""
    start = (max(number, 1) - 1) * per_page
    shown = tuple(events[start : start + per_page])
    return EventPage(shown, max(number, 1), start + per_page < len(events), len(events), per_page)


def action_choices(events: Iterable[AuditEvent], chosen: str = "") -> list[str]:
    """The action menu: the known actions, any other action among `events`, and the one chosen; sorted."""
    choices = set(KNOWN_ACTIONS) | {event.action for event in events}
    if chosen:
        choices.add(chosen)
    return sorted(choices)
