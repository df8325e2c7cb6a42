"""How far a research run's output can be trusted, measured from outside the swarm: each
number in the report's prose against the passage it cites (rebuilt from the paper's PDF as
the Reader cut it), the figures the Metrician read against the gold list kept with the corpus,
the methods the comparison covers, and the triples an enrichment of the papers accepts."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from pathlib import Path

from adapters.llm import LanguageModel
from adapters.pdf import read_pages
from domain.faithfulness import numbers, sentences
from handlers import commands as c
from handlers.service import LedgerService
from knowledge.enrichment import Enrichment
from knowledge.requests import EnrichRequest
from swarm.conductor import Conductor
from swarm.corpora import Corpus
from swarm.passages import chunk

SOURCE_LINE = re.compile(r"^(\d+)\. (\S+), page \d+ \(passage (\d+),")
CITATION = re.compile(r"\[(\d+|table)\]")
VALUE_TOLERANCE = 1e-6


@dataclass(frozen=True)
class Quality:
    numbers_found: int
    numbers_stated: int
    unsupported: tuple[str, ...]
    """sentences with a number their cited source does not hold"""
    gold_recalled: int
    gold_total: int
    methods_with_figures: int
    methods: int

    @property
    def number_share(self) -> float:
        return self.numbers_found / self.numbers_stated if self.numbers_stated else 1.0

    @property
    def recall(self) -> float:
        return self.gold_recalled / self.gold_total if self.gold_total else 1.0


def measure(conductor: Conductor, report: str, papers: dict[str, Path],
            corpus: Corpus) -> Quality:
    found, stated, unsupported = number_support(report, papers)
    figures = [figure for facts in conductor.tasks.values()
               if facts.task_type == "Extract_Metrics" for figure in facts.data.get("figures", [])]
    recalled, total = gold_recall(figures, corpus, list(papers))
    compare = next((facts for facts in conductor.tasks.values()
                    if facts.task_type == "Compare_Methods"), None)
    rows = compare.data.get("table", []) if compare is not None else []
    covered = sum(1 for row in rows if row.get("figures"))
    return Quality(found, stated, tuple(unsupported), recalled, total, covered, len(papers))


def number_support(report: str, papers: dict[str, Path]) -> tuple[int, int, list[str]]:
    """Numbers in the report's prose (its synthesis, findings, narrative and debate; not the
    metrics table, which is the figures themselves) that the sources they cite hold."""
    sources = _cited_passages(report, papers)
    table = _section(report, "## Metrics").split("\n\n## ")[0]
    found = stated = 0
    unsupported = []
    for line in _prose_lines(report):
        in_comparison = line.startswith("- ") and line in _section(
            report, "### How they compare")
        for sentence in sentences(line.lstrip("- ")):
            said = numbers(CITATION.sub("", sentence))
            if not said:
                continue
            cited = CITATION.findall(sentence)
            texts = [table if ref == "table" else sources.get(int(ref), "") for ref in cited]
            if in_comparison:
                texts.append(table)
            known = set().union(*(numbers(text) for text in texts)) if texts else set()
            known_values = {value for value, _ in known}
            held = {item for item in said
                    if item in known or (not item[1] and item[0] in known_values)}
            found += len(held)
            stated += len(said)
            if held != said:
                unsupported.append(sentence)
    return found, stated, unsupported


def gold_recall(figures: list[dict], corpus: Corpus, slugs: list[str]) -> tuple[int, int]:
    """Gold figures of the run's papers that the Metrician read, matched by paper and value
    (units are canonical on both sides: counts as plain numbers, memory in GB, time in
    seconds or hours)."""
    recalled = total = 0
    for slug in slugs:
        values = [float(f["value"]) for f in figures if f.get("paper") == slug]
        for gold in corpus.gold_for(slug):
            total += 1
            recalled += any(abs(value - gold.value) <= VALUE_TOLERANCE * max(1.0, gold.value)
                            for value in values)
    return recalled, total


def _cited_passages(report: str, papers: dict[str, Path]) -> dict[int, str]:
    cut: dict[str, list] = {}
    passages = {}
    for line in _section(report, "## Sources").splitlines():
        found = SOURCE_LINE.match(line)
        if not found:
            continue
        number, paper, index = int(found.group(1)), found.group(2), int(found.group(3))
        if paper not in cut:
            cut[paper] = chunk(paper, read_pages(papers[paper]))
        passages[number] = cut[paper][index].text
    return passages


def _section(report: str, heading: str) -> str:
    start = report.find(heading)
    return report[start:] if start >= 0 else ""


def _prose_lines(report: str) -> list[str]:
    kept, skipping = [], False
    for line in report.splitlines():
        if line.startswith("## "):
            skipping = line in ("## Sources", "## Faithfulness")
            continue
        if skipping or not line.strip() or line.startswith(("#", "|", "_")):
            continue
        kept.append(line)
    return kept


@dataclass(frozen=True)
class Enriched:
    accepted: int
    proposed: int
    seconds: float


def enrich_abstracts(service: LedgerService, model: LanguageModel, corpus: Corpus,
                     papers: int = 2) -> Enriched:
    """KARMA enrichment of the corpus's first papers' abstracts with the run's model, on the
    default settings: how many of the triples proposed the Validator accepts."""
    documents = [dict(paper.sections)["Abstract"][:2000] for paper in corpus.papers[:papers]
                 if "Abstract" in dict(paper.sections)]
    request = EnrichRequest(documents=documents, goal="Relate the methods, models and "
                            "datasets the papers name")
    started = time.perf_counter()
    enrichment = Enrichment(service, model, request, c.ADMIN)
    outcome = enrichment.run()
    proposed = len(outcome.accepted) + len([r for r in outcome.rejected
                                             if r["candidate"].get("subject")])
    return Enriched(len(outcome.accepted), proposed, time.perf_counter() - started)
