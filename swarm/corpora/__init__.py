"""The corpora this project writes as PDFs itself, each with the gold list of the figures a
reader should find in it:

- ``pilot``: six one-page PEFT digests (LoRA, QLoRA, AdaLoRA, prefix tuning, (IA)3, DoRA);
- ``vision``: five digests on efficient image classification (ResNet, MobileNetV2,
  EfficientNet, ViT, DeiT) of one or two pages, with tables, two of them in two columns.

Example::

    from swarm.corpora import corpus
    paths = corpus("vision").write(Path("vision"))
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from swarm.corpora import pilot, vision
from swarm.corpora.digest import PaperDigest, Table, write_pdf
from swarm.corpora.gold import GoldMetric
from swarm.corpora.pilot_gold import PILOT_GOLD
from swarm.corpora.vision_gold import VISION_GOLD

__all__ = ["CORPORA", "Corpus", "GoldMetric", "PaperDigest", "Table", "UnknownCorpusError",
           "corpus", "write_pdf"]


class UnknownCorpusError(ValueError):
    """No bundled corpus has that name."""


@dataclass(frozen=True)
class Corpus:
    name: str
    field: str
    """What the papers are about: the topic to give `karma research run`."""
    papers: tuple[PaperDigest, ...]
    gold: tuple[GoldMetric, ...]

    def write(self, folder: Path) -> list[Path]:
        """Every paper as ``folder/<slug>.pdf``; the same bytes on every call."""
        folder.mkdir(parents=True, exist_ok=True)
        return [write_pdf(paper, folder) for paper in self.papers]

    def gold_for(self, slug: str) -> tuple[GoldMetric, ...]:
        return tuple(metric for metric in self.gold if metric.paper == slug)


CORPORA = {
    "pilot": Corpus("pilot", pilot.FIELD, pilot.PILOT, PILOT_GOLD),
    "vision": Corpus("vision", vision.FIELD, vision.VISION, VISION_GOLD),
}


def corpus(name: str) -> Corpus:
    try:
        return CORPORA[name]
    except KeyError:
        raise UnknownCorpusError(f"there is no corpus named {name!r}; the bundled corpora are "
                                 f"{', '.join(CORPORA)}") from None
