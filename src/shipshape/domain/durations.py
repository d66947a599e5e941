"""Human durations such as `90s`, `30m`, `24h`, `7d` (config values, CLI options and API fields)."""

from __future__ import annotations

import re
from datetime import timedelta

_DURATION = re.compile(r"^\s*(\d+)\s*([smhdw]?)\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str) -> timedelta:
    """Parse `text`: a whole number with a unit s, m, h, d or w. The unit is required (a bare `30` could mean
    seconds, minutes or days), except for `0`, which is zero in every unit."""
    match = _DURATION.match(text)
    if not match:
        raise ValueError(f"invalid duration {text!r}: use a number with a unit, such as 90s, 30m, 24h or 7d")
    number, unit = int(match.group(1)), match.group(2)
    if not unit:
        if number == 0:
            return timedelta(0)
        raise ValueError(f"{number}: give a unit, e.g. {number}d, {number}h, {number}m or {number}s")
    return timedelta(seconds=number * _UNITS[unit])
