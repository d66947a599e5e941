"""Human sizes for quotas."""

from __future__ import annotations

import pytest

from shipshape.domain.sizes import format_size, parse_size


@pytest.mark.parametrize(
    ("text", "size"),
    [("10GiB", 10 * 1024**3), ("1.5GiB", 1610612736), ("500MB", 500_000_000), ("12", 12), ("1 tb", 10**12),
     ("0", 0), ("2KiB", 2048)],
)  # fmt: skip
def test_sizes_parse_exactly(text: str, size: int) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["", "ten", "10XB", "-1GiB", "1e9", "9" * 30 + "PiB"])
def test_bad_sizes_say_how(text: str) -> None:
    with pytest.raises(ValueError, match="size"):
        parse_size(text)


def test_sizes_format_in_binary_units() -> None:
    assert [format_size(n) for n in (512, 2048, 1610612736, 10 * 1024**3)] == ["512B", "2KiB", "1.5GiB", "10GiB"]
