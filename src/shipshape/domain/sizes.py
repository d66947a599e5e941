"""Human sizes such as `10GiB`, `500MB` or `1073741824` (account quotas), and back."""

from __future__ import annotations

import re

_SIZE = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*([KMGTP]i?B|B)?\s*$", re.IGNORECASE)
_UNITS = {
    "b": 1,
    "kb": 1000, "mb": 1000**2, "gb": 1000**3, "tb": 1000**4, "pb": 1000**5,
    "kib": 1024, "mib": 1024**2, "gib": 1024**3, "tib": 1024**4, "pib": 1024**5,
}  # fmt: skip
MAX_SIZE = 2**63 - 1  # what a SQL BIGINT holds
SIZE_PATTERN = r"^[0-9]+(\.[0-9]+)?\s*([KMGTPkmgtp][iI]?[bB]|[bB])?$"


def parse_size(text: str) -> int:
    """Bytes in `text`: a number with an optional unit (B, KB, MB, GB, TB, PB in powers of 1000; KiB … PiB in
    powers of 1024). Raises `ValueError` with an example of a valid size."""
    match = _SIZE.match(text)
    if not match:
        raise ValueError(f"invalid size {text!r}: use a number with a unit, such as 500MiB, 10GiB or 1TB")
    number: str = match.group(1)
    unit: str | None = match.group(2)
    whole, _, fraction = number.partition(".")
    scale = _UNITS[(unit or "b").lower()]
    # Exact arithmetic: 1.5GiB is 1610612736 bytes, not a float's approximation of it.
    denominator: int = 10 ** len(fraction)
    size = (int(whole) * denominator + int(fraction or "0")) * scale // denominator
    if size > MAX_SIZE:
        raise ValueError(f"size {text!r} is too large: at most {MAX_SIZE} bytes")
    return size


def format_size(size: int) -> str:
    """`10GiB`, `1.5MiB`, `512B`: the largest binary unit, with at most one decimal."""
    for unit, scale in (("PiB", 1024**5), ("TiB", 1024**4), ("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
        if size >= scale:
            value = size / scale
            return f"{value:.0f}{unit}" if size % scale == 0 else f"{value:.1f}{unit}"
    return f"{size}B"
