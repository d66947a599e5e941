"""Printing: JSON for scripts (`--json`), rich tables for people."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from rich.console import Console
from rich.table import Table


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2) + "\n")


def print_table(columns: Sequence[str], rows: Sequence[Sequence[str]], empty: str) -> None:
    console = Console(soft_wrap=False)
    if not rows:
        console.print(empty, highlight=False)
        return
    table = Table(*columns, box=None, pad_edge=False, header_style="bold")
    for row in rows:
        table.add_row(*row)
    console.print(table)


def print_fields(fields: Sequence[tuple[str, str]]) -> None:
    """`key: value` lines, plain (no markup), so that scripts can read them too."""
    for key, value in fields:
        sys.stdout.write(f"{key}: {value}\n")


def when(value: str | None, seconds: bool = False) -> str:
    """An API timestamp as `2026-03-01 12:00` (UTC, with `:05` seconds if asked), or `-`."""
    if not value:
        return "-"
    return datetime.fromisoformat(value).astimezone(UTC).strftime("%Y-%m-%d %H:%M" + (":%S" if seconds else ""))


def age(seconds: int) -> str:
    """`3d`, `5h`, `12m` or `40s`."""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"
