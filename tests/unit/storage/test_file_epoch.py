"""The file epoch: every process of a machine sees an advance at once, and concurrent advances all count."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

from shipshape.storage.epoch import FileEpoch


def test_an_advance_shows_at_once_in_every_mapping_of_the_file(tmp_path: Path) -> None:
    here, there = FileEpoch(tmp_path / "epoch"), FileEpoch(tmp_path / "epoch")
    before = there.current()
    here.advance()
    assert there.current() == before + 1
    there.advance()
    assert here.current() == before + 2


def _advance(path: Path, times: int) -> None:
    epoch = FileEpoch(path)
    for _ in range(times):
        epoch.advance()


def test_advances_by_several_processes_at_once_all_count(tmp_path: Path) -> None:
    path = tmp_path / "epoch"
    start = FileEpoch(path).current()
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_advance, args=(path, 200)) for _ in range(3)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=60)
    assert [worker.exitcode for worker in workers] == [0, 0, 0]
    assert FileEpoch(path).current() == start + 600


def test_a_file_of_the_old_format_keeps_working(tmp_path: Path) -> None:
    path = tmp_path / "epoch"
    path.write_text("1733245678901234567\n")  # what earlier versions wrote: a timestamp
    epoch = FileEpoch(path)
    before = epoch.current()
    epoch.advance()
    assert FileEpoch(path).current() == before + 1
