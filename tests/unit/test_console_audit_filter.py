"""The audit page's narrowing by actor, action and result, its pages, and its action menu."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from shipshape.domain.access import AuditEvent
from shipshape.web.audit_filter import KNOWN_ACTIONS, AuditFilter, action_choices, filter_events, paginate

START = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def event(
    actor: str = "olive", action: str = "login", result: str = "success", credential: str | None = None, minute: int = 0
) -> AuditEvent:
    return AuditEvent(
        time=START - timedelta(minutes=minute), account="acme", actor=actor, action=action, target="acme-dev/web",
        result=result, credential=credential,
    )  # fmt: skip


LOG = [
    event("olive", "login"),
    event("acme-ci-1a2b", "manifest.push", credential="acme-ci-1a2b", minute=1),
    event("olive", "credential.rotate", minute=2),
    event("vic", "audit.read", "denied", minute=3),
    event("mallory", "login", "failure", minute=4),
    event("mallory", "login", "locked", minute=5),
    event("olive", "image.promote", "failure", minute=6),
]


def test_an_empty_filter_keeps_every_event_in_the_order_given() -> None:
    assert filter_events(LOG, AuditFilter()) == LOG


def test_actor_matches_part_of_the_actor_or_credential_name_in_any_case() -> None:
    assert [e.actor for e in filter_events(LOG, AuditFilter(actor="OLI"))] == ["olive"] * 3
    assert [e.action for e in filter_events(LOG, AuditFilter(actor="ci"))] == ["manifest.push"]
    assert filter_events(LOG, AuditFilter(actor="  vic ")) == [LOG[3]]
    assert filter_events(LOG, AuditFilter(actor="nobody")) == []


def test_credential_name_is_searched_even_when_the_actor_differs() -> None:
    pushed = event("olive", "manifest.push", credential="acme-deploy-9f")
    assert filter_events([pushed], AuditFilter(actor="deploy")) == [pushed]


def test_action_matches_exactly_or_a_whole_family_but_not_a_mere_prefix() -> None:
    assert [e.action for e in filter_events(LOG, AuditFilter(action="login"))] == ["login"] * 3
    assert [e.action for e in filter_events(LOG, AuditFilter(action="credential"))] == ["credential.rotate"]
    assert filter_events(LOG, AuditFilter(action="cred")) == []
    assert filter_events(LOG, AuditFilter(action="Manifest.Push")) == [LOG[1]]


def test_result_matches_exactly() -> None:
    assert [e.actor for e in filter_events(LOG, AuditFilter(result="failure"))] == ["mallory", "olive"]
    assert filter_events(LOG, AuditFilter(result="locked")) == [LOG[5]]


def test_filters_combine() -> None:
    narrowed = filter_events(LOG, AuditFilter(actor="mallory", action="login", result="failure"))
    assert narrowed == [LOG[4]]


def test_pages_hold_fifty_events_and_say_whether_older_ones_follow() -> None:
    many = [event(minute=n) for n in range(120)]
    first, second, third = paginate(many, 1), paginate(many, 2), paginate(many, 3)
    assert (len(first.events), first.more, first.first, first.last) == (50, True, 1, 50)
    assert (len(second.events), second.more, second.first, second.last) == (50, True, 51, 100)
    assert (len(third.events), third.more, third.first, third.last) == (20, False, 101, 120)
    assert first.events + second.events + third.events == tuple(many)
    assert first.total == third.total == 120


def test_exactly_one_full_page_has_no_next_page() -> None:
    assert paginate([event(minute=n) for n in range(50)], 1).more is False


@pytest.mark.parametrize("number", [4, 99])
def test_a_page_past_the_end_is_empty(number: int) -> None:
    page = paginate([event(minute=n) for n in range(120)], number)
    assert (page.events, page.more, page.first, page.last, page.total) == ((), False, 0, 0, 120)


def test_page_numbers_below_one_are_the_first_page() -> None:
    assert paginate(LOG, 0, per_page=3).number == 1
    assert paginate(LOG, 0, per_page=3).events == tuple(LOG[:3])


def test_action_menu_offers_known_actions_those_seen_and_the_one_chosen() -> None:
    choices = action_choices([event(action="webhook.deliver")], chosen="custom.thing")
    assert set(KNOWN_ACTIONS) <= set(choices)
    assert "webhook.deliver" in choices and "custom.thing" in choices
    assert choices == sorted(choices)
