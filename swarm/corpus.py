"""The pilot corpus and the PDF generator, where the swarm, the benchmarks and the tests have
always imported them from. The corpora themselves (the pilot, the vision corpus, their gold
figures) live in ``swarm.corpora``."""

from __future__ import annotations

from pathlib import Path

from swarm.corpora import CORPORA, PaperDigest, Table, write_pdf
from swarm.corpora.pilot import PILOT

__all__ = ["PILOT", "PaperDigest", "Table", "write_pdf", "write_pilot_corpus"]


def write_pilot_corpus(folder: Path) -> list[Path]:
    return CORPORA["pilot"].write(folder)
