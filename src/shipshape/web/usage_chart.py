"""The usage page's daily history as the geometry of an SVG bar chart: one bar per day with a snapshot, a size
scale on the left and dates along the bottom. The page draws it with SVG attributes only (the CSP allows no
inline styles)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta

from shipshape.domain.sizes import format_size
from shipshape.domain.usage import UsageSnapshot

WIDTH = 480  # the chart's coordinate space (the viewBox); the page scales it to its width
HEIGHT = 200
LEFT = 80  # room for the size labels
BOTTOM = 24  # room for the date labels
TOP = 10
GAP = 2  # between bars
MIN_BAR = 1  # a day that stored anything shows at least this tall


@dataclass(frozen=True, slots=True)
class Bar:
    day: date
    bytes: int
    x: float
    y: float
    width: float
    height: float

    @property
    def label(self) -> str:
        return f"{self.day.isoformat()}: {format_size(self.bytes)}"


@dataclass(frozen=True, slots=True)
class Tick:
    """A label on an axis, at `position` (y for the size axis, x for the date axis)."""

    position: float
    text: str
    anchor: str = "middle"  # SVG text-anchor: the first and last dates end at the chart's edges


@dataclass(frozen=True, slots=True)
class HistoryChart:
    bars: tuple[Bar, ...]
    sizes: tuple[Tick, ...]
    days: tuple[Tick, ...]
    width: int = WIDTH
    height: int = HEIGHT
    left: int = LEFT
    base: int = HEIGHT - BOTTOM  # y of the axis the bars stand on


def history_chart(history: Iterable[UsageSnapshot], today: date, days: int) -> HistoryChart:
    """The chart of the `days` days up to `today`: a bar for each day in `history` (days without a snapshot are
    gaps), scaled to the largest day."""
    first = today - timedelta(days=days - 1)
    by_day = {snapshot.day: snapshot.bytes for snapshot in history if first <= snapshot.day <= today}
    top = max(by_day.values(), default=0)
    slot = (WIDTH - LEFT) / days
    room = HEIGHT - BOTTOM - TOP
    bars = []
    for day, stored in sorted(by_day.items()):
        height = _bar_height(stored, top, room)
        x = LEFT + (day - first).days * slot + GAP / 2
        bars.append(Bar(day, stored, round(x, 2), round(HEIGHT - BOTTOM - height, 2), round(slot - GAP, 2), height))
    sizes = (Tick(HEIGHT - BOTTOM, format_size(0)), Tick(TOP, format_size(top))) if top else ()
    day_ticks = tuple(_day_tick(first, offset, days, slot) for offset in sorted({0, days // 2, days - 1}))
    return HistoryChart(tuple(bars), sizes, day_ticks)


def _day_tick(first: date, offset: int, days: int, slot: float) -> Tick:
    """The date under the bar `offset` days after `first`; the first and last end at the chart's edges."""
    text = (first + timedelta(days=offset)).strftime("%b %d")
    if offset == 0:
        return Tick(LEFT, text, "start")
    if offset == days - 1:
        return Tick(WIDTH, text, "end")
    return Tick(round(LEFT + (offset + 0.5) * slot, 2), text)


def _bar_height(stored: int, top: int, room: int) -> float:
    if stored <= 0 or top <= 0:
        return 0.0
    return round(max(stored / top * room, MIN_BAR), 2)
