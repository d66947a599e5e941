"""Admissions: remembered while no epoch moves, for at most the TTL, never past the grant's own expiry."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from shipshape.api.oci.admissions import Admissions
from shipshape.domain.access import Action

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


class Counter:
    def __init__(self) -> None:
        self.value = 0

    def current(self) -> int:
        return self.value

    def advance(self) -> None:
        self.value += 1


def test_an_admission_holds_until_any_epoch_moves() -> None:
    revocations, settings = Counter(), Counter()
    admissions: Admissions[str] = Admissions((revocations, settings), timedelta(seconds=10))
    key = admissions.key("Basic abc", "dev/app", Action.PULL)
    admissions.remember(key, "ci", NOW, admissions.stamp(), None)
    assert admissions.get(key, NOW, admissions.stamp()) == "ci"
    settings.advance()
    assert admissions.get(key, NOW, admissions.stamp()) is None
    admissions.remember(key, "ci", NOW, admissions.stamp(), None)
    revocations.advance()
    assert admissions.get(key, NOW, admissions.stamp()) is None


def test_an_admission_checked_while_an_epoch_moved_is_never_used() -> None:
    revocations = Counter()
    admissions: Admissions[str] = Admissions((revocations,), timedelta(seconds=10))
    key = admissions.key("Basic abc", "dev/app", Action.PULL)
    stamp = admissions.stamp()  # taken before the check began
    revocations.advance()  # a revocation lands while the check runs
    admissions.remember(key, "ci", NOW, stamp, None)
    assert admissions.get(key, NOW, admissions.stamp()) is None


def test_an_admission_ends_with_its_ttl_or_its_own_expiry_whichever_is_first() -> None:
    admissions: Admissions[str] = Admissions((), timedelta(seconds=10))
    key = admissions.key("Bearer t", "dev/app", Action.PUSH)
    admissions.remember(key, "ci", NOW, 0, None)
    assert admissions.get(key, NOW + timedelta(seconds=9), 0) == "ci"
    assert admissions.get(key, NOW + timedelta(seconds=10), 0) is None
    admissions.remember(key, "ci", NOW, 0, NOW + timedelta(seconds=3))
    assert admissions.get(key, NOW + timedelta(seconds=2), 0) == "ci"
    assert admissions.get(key, NOW + timedelta(seconds=3), 0) is None


def test_admissions_are_per_header_repository_and_action() -> None:
    admissions: Admissions[str] = Admissions((), timedelta(seconds=10))
    admissions.remember(admissions.key("Basic abc", "dev/app", Action.PULL), "ci", NOW, 0, None)
    assert admissions.get(admissions.key("Basic abd", "dev/app", Action.PULL), NOW, 0) is None
    assert admissions.get(admissions.key("Basic abc", "dev/other", Action.PULL), NOW, 0) is None
    assert admissions.get(admissions.key("Basic abc", "dev/app", Action.PUSH), NOW, 0) is None
