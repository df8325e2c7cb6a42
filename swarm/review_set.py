"""A labelled set for the Reviewer: good artifacts of every task type it scores, and the same
artifacts deliberately corrupted, so that how well its scores separate the two can be
measured (ROC AUC), overall and per kind of fault.

The good artifacts are data (``review_set.json``, shipped with the package): faithful to the
pilot corpus (``swarm.corpus.PILOT``) as the Reviewer reads it, from the PDFs. The corrupted
ones are derived from them here, deterministically (no randomness), so the set is the same on
every machine:

- ``wrong_numbers``: every other number changed (one digit shifted);
- ``repetition``: the first sentence said again and again (a table's first row, a figure
  listed over and over);
- ``off_topic``: another paper's artifact, or text about another field;
- ``empty``: what an agent writes when the model said nothing;
- ``truncated``: cut mid-sentence, or only its first figure or row;
- ``misattributed``: method names swapped (LoRA's figures under QLoRA's name), figures moved
  to another row.

``python -m swarm.review_set`` prints the set's size per task type and kind.
"""

from __future__ import annotations

import json
import re
import tempfile
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from adapters.llm import Likelihood, ScoresLikelihood
from adapters.pdf import read_pages
from domain.rubric import NUMBER, quantities, same_quantity, sentence_split
from swarm.corpus import PILOT, write_pdf
from swarm.reviewing import Source, assess

KINDS = ("wrong_numbers", "repetition", "off_topic", "empty", "truncated", "misattributed")
PER_SUMMARY = 3
"""Corruptions per good summary (its kinds taken in turn from KINDS): summaries are the most
numerous good items, and every kind still gets about six of them."""
PER_CRITIQUE = 3
PER_COMPARISON = 5
METHODS = ("LoRA", "QLoRA", "AdaLoRA", "Prefix-tuning", "(IA)3", "DoRA")
"""The pilot's methods in the order a misattribution rotates them: each gets the next's name."""
OTHER_FIELD = (
    "GraphCast forecasts the global weather ten days ahead from two previous atmospheric "
    "states. It runs in under one minute on a single TPU v4 and beats the HRES system on 90% "
    "of 1,380 verification targets.",
    "Sourdough bread rises from a culture of wild yeast and lactic acid bacteria. A dough at "
    "75% hydration proofs for 12 hours in the fridge before baking at 250 degrees for 40 "
    "minutes.",
    "AlphaFold predicts the structure of a protein from its amino acid sequence. On the CASP14 "
    "targets its median backbone accuracy was 0.96 angstroms, against 2.8 for the next best "
    "method.",
)
"""Text about something else: what an agent that lost its topic writes."""
OTHER_TABLE = [
    {"method": "graphcast", "trainable params": "36.7M", "param share %": "",
     "memory named (GB)": "32", "best score": "90% of HRES", "figures": 3},
    {"method": "pangu-weather", "trainable params": "256M", "param share %": "",
     "memory named (GB)": "", "best score": "", "figures": 1},
]


@dataclass(frozen=True)
class Item:
    """One labelled artifact, as the Reviewer is given it."""

    id: str
    task_type: str
    kind: str
    """"good", or the corruption (one of KINDS)."""
    papers: tuple[str, ...]
    """The pilot papers whose PDFs are its source."""
    text: str
    data: dict[str, Any] = field(default_factory=dict)
    of: str = ""
    """The good item it was made from (its own id when good)."""

    @property
    def good(self) -> bool:
        return self.kind == "good"


# -- the set -----------------------------------------------------------------------------------

def good_items() -> list[Item]:
    raw = json.loads(resources.files("swarm").joinpath("review_set.json").read_text("utf-8"))
    return [Item(entry["id"], entry["task_type"], "good", tuple(entry["papers"]),
                 entry["text"], entry["data"], entry["id"]) for entry in raw["good"]]


def labelled_set() -> list[Item]:
    """The good items, each followed by its corruptions."""
    good = good_items()
    items: list[Item] = []
    for index, item in enumerate(good):
        items.append(item)
        wanted = {"Summarise_Paper": PER_SUMMARY, "Critique_Claim": PER_CRITIQUE,
                  "Compare_Methods": PER_COMPARISON}.get(item.task_type, len(KINDS))
        made: list[Item] = []
        # Wrong numbers wherever there are numbers (the fault that matters most), then kinds
        # in turn from the item's place; one that does not apply gives way to the next.
        turn = [KINDS[(index + step) % len(KINDS)] for step in range(len(KINDS))]
        for kind in sorted(turn, key=lambda k: k != "wrong_numbers"):
            if len(made) == wanted:
                break
            found = corrupt(item, kind, good)
            made += [found] if found is not None else []
        items += made
    return items


def corrupt(item: Item, kind: str, good: Sequence[Item]) -> Item | None:
    """``item`` with the fault ``kind``; None where the fault does not apply (no number to
    change, a single figure to cut)."""
    text, data = _CORRUPTIONS[kind](item, good)
    if text is None:
        return None
    return replace(item, id=f"{item.id}.{kind}", kind=kind, text=text, data=data, of=item.id)


# -- the corruptions ---------------------------------------------------------------------------

def _wrong_numbers(item: Item, good: Sequence[Item]) -> tuple[str | None, dict]:
    known = quantities(" ".join(source_texts()[p] for p in item.papers))
    changed = {"count": 0}

    def shift(text: str) -> str:
        return NUMBER.sub(lambda m: _shifted(m, changed, known), text)

    data = _map_strings(item.data, shift, skip=("sentence", "paper", "method", "claim"))
    if item.task_type == "Extract_Metrics":
        data["figures"] = [
            {**r, "value": float(_shift_digits(_plain(r["value"]), known))} if i % 2 == 0 else r
            for i, r in enumerate(item.data["figures"])]
        changed["count"] += len(data["figures"])
    if item.task_type == "Synthesise_Report":  # its claims, not its list of sources
        head, found, sources = item.text.partition("## Sources")
        text = shift(head) + found + sources
    else:
        text = shift(item.text)
    if item.task_type == "Critique_Claim":
        data["points"] = sentence_split(text)
    return (text if changed["count"] else None), data


def _shifted(match: re.Match[str], changed: dict[str, int], known: Sequence[float]) -> str:
    changed["count"] += 1
    if changed["count"] % 2 == 0 or not match.group(1).strip("0.,"):
        return match.group(0)  # every other number: a text half right is still wrong
    return _shift_digits(match.group(1), known)


def _shift_digits(number: str, known: Sequence[float]) -> str:
    """``number`` with its first non-zero digit moved up (3, then 4, ...), into a value the
    source never states in any unit."""
    for step in range(3, 10):
        at = next(i for i, ch in enumerate(number) if ch not in "0.,")
        candidate = number[:at] + str((int(number[at]) + step) % 10 or 1) + number[at + 1:]
        value = float(candidate.replace(",", ""))
        if not any(same_quantity(value, k) for k in known):
            return candidate
    raise ValueError(f"no wrong number for {number}")


def _repetition(item: Item, good: Sequence[Item]) -> tuple[str | None, dict]:
    data = dict(item.data)
    if item.task_type == "Extract_Metrics":
        figures = item.data["figures"]
        data["figures"] = (figures[:2] * len(figures) * 3)[:max(3, len(figures))]
        return "", data
    if item.task_type == "Compare_Methods":
        data["table"] = [item.data["table"][0]] * len(item.data["table"])
    if item.task_type == "Synthesise_Report":
        return _prose_lines(item.text, _say_again), data
    text = _say_again(item.text)
    if item.task_type == "Critique_Claim":
        data["points"] = sentence_split(text)
    return text, data


def _say_again(text: str) -> str:
    """The first sentence three times, the second once between: how a small model loops."""
    said = sentence_split(text)
    return " ".join([said[0], said[0], *said[1:2], said[0]])


def _off_topic(item: Item, good: Sequence[Item]) -> tuple[str | None, dict]:
    if item.task_type in ("Summarise_Paper", "Extract_Metrics"):
        # Another paper's artifact of the same type, reviewed against this paper.
        same = [g for g in good if g.task_type == item.task_type]
        after = same[same.index(item) + 1:] + same
        other = next(g for g in after if g.papers != item.papers)
        return other.text, dict(other.data)
    index = sum(map(ord, item.id)) % len(OTHER_FIELD)
    elsewhere = OTHER_FIELD[index]
    match item.task_type:
        case "Compare_Methods":
            return sentence_split(elsewhere)[0], {"table": OTHER_TABLE, "markdown": ""}
        case "Critique_Claim":
            return elsewhere, {**item.data, "points": sentence_split(elsewhere)}
        case _:  # a report on another field, in the report's own shape
            lines = [f"# {elsewhere.split()[0]}: what the papers say", "", "## Synthesis", "",
                     elsewhere, "", "## Metrics", "", "_no figures were extracted_", "",
                     "## Debate", "", "- " + sentence_split(OTHER_FIELD[index - 1])[0], "",
                     "## Sources", ""]
            return "\n".join(lines) + "\n", {"citations": 0, "methods": 1}


def _empty(item: Item, good: Sequence[Item]) -> tuple[str | None, dict]:
    match item.task_type:
        case "Summarise_Paper":
            return "(the model gave no summary)", dict(item.data)
        case "Extract_Metrics":
            return "", {**item.data, "figures": []}
        case "Compare_Methods":
            return "(the model gave no narrative)", {"table": [], "markdown": ""}
        case "Critique_Claim":
            return "(no argument)", {**item.data, "points": []}
        case _:
            return ("# parameter-efficient fine-tuning: what the papers say\n\n## Synthesis\n\n"
                    "_the model wrote no overview_\n\n### Findings by method\n\n## Metrics\n\n"
                    "_no figures were extracted_\n\n## Debate\n\n### Pros (optimist)\n\n"
                    "- _no argument was made_\n\n### Cons (skeptic)\n\n- _no argument was made_"
                    "\n\n## Sources\n\n", {"citations": 0, "methods": 0})


def _truncated(item: Item, good: Sequence[Item]) -> tuple[str | None, dict]:
    data = dict(item.data)
    if item.task_type == "Extract_Metrics":
        if len(item.data["figures"]) < 2:
            return None, data
        data["figures"] = item.data["figures"][:1]
        return "", data
    if item.task_type == "Compare_Methods":
        data["table"] = item.data["table"][:1]
    share = 0.35 if item.task_type == "Synthesise_Report" else 0.4
    words = item.text.split(" ")
    text = " ".join(words[:max(3, int(len(words) * share))]).rstrip(".,;:")
    if item.task_type == "Critique_Claim":
        data["points"] = sentence_split(text)
    return text, data


def _misattributed(item: Item, good: Sequence[Item]) -> tuple[str | None, dict]:
    data = dict(item.data)
    if item.task_type == "Extract_Metrics":
        figures = item.data["figures"]
        if len(figures) < 2:
            return None, data
        # Each figure given the next one's value: numbers of the paper, under the wrong name.
        data["figures"] = [{**r, "value": figures[(i + 1) % len(figures)]["value"]}
                           for i, r in enumerate(figures)]
        return "", data
    if item.task_type == "Compare_Methods":
        rows = item.data["table"]
        data["table"] = [{**r, "method": rows[(i + 1) % len(rows)]["method"]}
                         for i, r in enumerate(rows)]
    text = _swap_names(item.text)
    if item.task_type == "Summarise_Paper":
        data["method"] = _swap_names(data.get("method", ""))
    if item.task_type == "Critique_Claim":
        data["points"] = sentence_split(text)
    return (text if text != item.text or data != item.data else None), data


NAME = re.compile("|".join(re.escape(name) for name in sorted(METHODS, key=len, reverse=True))
                  + r"|prefix-tuning", re.IGNORECASE)


def _swap_names(text: str) -> str:
    keyed = {name.lower(): METHODS[(i + 1) % len(METHODS)] for i, name in enumerate(METHODS)}
    return re.sub(r"(?<![\w-])(?:" + NAME.pattern + r")(?![\w-])",
                  lambda m: keyed[m.group(0).lower()], text, flags=re.IGNORECASE)


def _prose_lines(text: str, change: Callable[[str], str]) -> str:
    """``change`` applied to each prose line of a report (not headings, tables, sources)."""
    head, found, sources = text.partition("## Sources")
    lines = [change(line) if line.strip() and not line.lstrip().startswith(("#", "|"))
             else line for line in head.splitlines()]
    return "\n".join(lines) + "\n" + found + sources


def _map_strings(data: Any, change: Callable[[str], str], skip: tuple[str, ...]) -> Any:
    if isinstance(data, Mapping):
        return {k: v if k in skip else _map_strings(v, change, skip) for k, v in data.items()}
    if isinstance(data, list):
        return [_map_strings(v, change, skip) for v in data]
    return change(data) if isinstance(data, str) else data


def _plain(value: float) -> str:
    return f"{value:f}".rstrip("0").rstrip(".") or "0"


_CORRUPTIONS: dict[str, Callable[[Item, Sequence[Item]], tuple[str | None, dict]]] = {
    "wrong_numbers": _wrong_numbers, "repetition": _repetition, "off_topic": _off_topic,
    "empty": _empty, "truncated": _truncated, "misattributed": _misattributed}


# -- the sources, as the Reviewer reads them ---------------------------------------------------

@cache
def source_texts() -> dict[str, str]:
    """Each pilot paper's text as the Reviewer reads it: its PDF, written and read back."""
    with tempfile.TemporaryDirectory() as folder:
        return {paper.slug: " ".join(page.text for page in read_pages(
            write_pdf(paper, Path(folder)))) for paper in PILOT}


def source_of(item: Item) -> Source:
    texts = source_texts()
    return Source({paper: texts[paper] for paper in item.papers})


# -- the measurement ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Scored:
    item: Item
    quality: float
    rubric: float
    pmi: float | None
    likelihoods: tuple[Likelihood, ...] = ()


def score_set(items: Sequence[Item], likelihoods: ScoresLikelihood | None,
              progress: Callable[[int, int], None] | None = None) -> list[Scored]:
    """The Reviewer's score of each item, as ``review_artifact`` computes it."""
    scored = []
    for done, item in enumerate(items, start=1):
        found = assess(item.task_type, item.text, item.data, source_of(item), likelihoods)
        scored.append(Scored(item, found.quality, found.checks.score, found.pmi,
                             tuple(found.likelihoods)))
        if progress:
            progress(done, len(items))
    return scored


def roc_auc(good: Sequence[float], bad: Sequence[float]) -> float:
    """The chance that a good item outscores a corrupted one (ties count half): the area
    under the ROC curve of the score as a test for "good"."""
    if not good or not bad:
        return float("nan")
    wins = sum((g > b) + 0.5 * (g == b) for g in good for b in bad)
    return wins / (len(good) * len(bad))


def auc_by_kind(scored: Sequence[Scored], score: Callable[[Scored], float | None]
                ) -> dict[str, float]:
    """AUC of ``score`` overall and per corruption kind (good items against that kind's)."""
    good = [s for s in scored if s.item.good and score(s) is not None]
    values = [score(s) for s in good]
    found = {"all": roc_auc(values, [score(s) for s in scored
                                     if not s.item.good and score(s) is not None])}
    for kind in KINDS:
        bad = [score(s) for s in scored if s.item.kind == kind and score(s) is not None]
        if bad:
            found[kind] = roc_auc(values, bad)
    return found


def _describe() -> Iterator[str]:
    items = labelled_set()
    counts = Counter((item.task_type, item.kind) for item in items)
    kinds = ("good", *KINDS)
    yield f"{'task type':<20}" + "".join(f"{k:>15}" for k in kinds)
    for task_type in dict.fromkeys(item.task_type for item in items):
        yield f"{task_type:<20}" + "".join(f"{counts[(task_type, k)]:>15}" for k in kinds)
    yield f"{len(items)} items, {sum(item.good for item in items)} good"


if __name__ == "__main__":
    print("\n".join(_describe()))
