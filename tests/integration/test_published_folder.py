"""First-run conversion when processes race: each builds its own copy, the first to finish
publishes it whole, the others use it, and nothing partial is left behind."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

import pytest

from adapters.published_folder import publish_folder

WEIGHTS = b"\x00\x01" * 500_000


def _build_after_all_are_ready(barrier, folder: Path) -> None:
    (folder / "weights.bin").write_bytes(WEIGHTS)
    barrier.wait(timeout=60)  # every process has built its copy before any publishes
    (folder / "config.json").write_text("{}")


def _convert(target: str, barrier, results) -> None:
    results.put(publish_folder(Path(target), lambda f: _build_after_all_are_ready(barrier, f)))


def test_two_processes_converting_at_once_publish_one_complete_copy(tmp_path):
    context = multiprocessing.get_context("spawn")
    barrier, results = context.Barrier(2), context.Queue()
    target = tmp_path / "cache" / "gemma"
    workers = [context.Process(target=_convert, args=(str(target), barrier, results))
               for _ in range(2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
    assert [worker.exitcode for worker in workers] == [0, 0]
    assert sorted(results.get(timeout=5) for _ in workers) == [False, True]
    assert (target / "weights.bin").read_bytes() == WEIGHTS
    assert (target / "config.json").exists()
    assert [p.name for p in target.parent.iterdir()] == ["gemma"]  # no partial folder left


def test_a_failed_conversion_removes_its_partial_folder_and_publishes_nothing(tmp_path):
    target = tmp_path / "gemma"

    def fail_halfway(folder: Path) -> None:
        (folder / "weights.bin").write_bytes(WEIGHTS)
        raise MemoryError("killed while converting")

    with pytest.raises(MemoryError):
        publish_folder(target, fail_halfway)
    assert list(tmp_path.iterdir()) == []


def test_a_later_conversion_keeps_the_copy_already_published(tmp_path):
    target = tmp_path / "gemma"
    assert publish_folder(target, lambda f: (f / "config.json").write_text("first")) is True
    assert publish_folder(target, lambda f: (f / "config.json").write_text("second")) is False
    assert (target / "config.json").read_text() == "first"
    assert [p.name for p in tmp_path.iterdir()] == ["gemma"]
