"""Durations people type: a number and a unit; a bare number is refused, except 0."""

from __future__ import annotations

from datetime import timedelta

import pytest

from shipshape.domain.durations import parse_duration


@pytest.mark.parametrize(
    ("text", "expected"),
    [("90s", timedelta(seconds=90)), ("30m", timedelta(minutes=30)), ("24h", timedelta(hours=24)),
     ("7d", timedelta(days=7)), ("2w", timedelta(weeks=2)), (" 12h ", timedelta(hours=12)), ("0s", timedelta(0))],
)  # fmt: skip
def test_a_number_with_a_unit_is_that_long(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["0", "00"])
def test_zero_needs_no_unit(text: str) -> None:
    assert parse_duration(text) == timedelta(0)


def test_a_bare_number_is_refused_with_the_units_to_give() -> None:
    with pytest.raises(ValueError, match=r"^30: give a unit, e\.g\. 30d, 30h, 30m or 30s$"):
        parse_duration("30")


@pytest.mark.parametrize("text", ["", "h", "1.5h", "-1h", "1 fortnight", "1y", "30 days"])
def test_other_forms_are_refused_with_examples(text: str) -> None:
    with pytest.raises(ValueError, match="such as 90s, 30m, 24h or 7d"):
        parse_duration(text)
