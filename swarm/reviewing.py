"""The Reviewer scores each artifact for the economy: quality 0..1.5, a ReviewScored on the
reviewed task, which is what pays its agent.

The score is built from checks anyone can repeat against the source the artifact drew on (the
paper's PDF, or the run's passages for work across papers), and from the host's likelihoods
where the model can give them:

- faithfulness, which multiplies everything: the share of the artifact's numbers that the
  source states (up to a unit prefix: 4.7M is 4,700,000), of its names of methods, models and
  datasets that the source uses, and of its figures stated for a method that the method's own
  paper states ("LoRA reaches 99.3% of ChatGPT" is QLoRA's figure);
- form, per task type: no repetition (distinct word trigrams), on topic (the share of its
  content words the source has), complete (length, a whole last sentence, figures found,
  methods covered, a report's sections);
- grounding by likelihood: the mean per-token log-probability of the artifact after the source
  passage it is closest to, minus the same without it (pointwise mutual information, in nats
  per token): text that follows from the source gains by reading it, text about something
  else does not. A 270M base model grades nearly everything "1/5" when asked; its likelihoods
  still tell grounded text from ungrounded.

quality = faithfulness x ((1 - w) form + w likelihood), with w = LIKELIHOOD_WEIGHT; a model
without likelihoods (an OpenAI-compatible chat endpoint) gets faithfulness x form, and the
rationale says so. Every component is in the review's data part and its rationale.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from functools import cached_property
from pathlib import Path
from typing import Any

from adapters.likelihoods import NoLikelihoodError, describe, encode, likelihoods_of
from adapters.llm import Likelihood, ScoresLikelihood
from adapters.pdf import UnreadablePdfError, read_pages
from domain.rubric import (
    SCALES,
    TIME_SCALES,
    attribution,
    context_for,
    distinct_ngrams,
    ends_whole,
    grounding,  # shared with learning.harvest's labels
    name_key,
    names,
    names_found,
    numbers_found,
    quantities,
    same_quantity,
    sentence_split,
)
from domain.tasks import MAX_QUALITY, DataPart
from handlers import commands as c
from swarm.reading import local_path, method_name
from swarm.toolkit import Toolkit
from workers.task_worker import PermanentTaskError, TaskMessage, TaskOutcome

LIKELIHOOD_WEIGHT = 0.2
"""Share of the form part that the likelihood's grounding takes when the model has one."""
PMI_FULL = 1.0
"""Nats per token of grounding by likelihood that count fully. On the local host a faithful
summary gains 2-4 after its paper, a report's prose about 1, a summary of another paper
under 0.8 and unrelated text less than nothing: below a nat per token, text reads as if
written without the source."""
CONTEXT_CHARS = 500
"""The source passage a likelihood is conditioned on: the sentences closest to the artifact.
Short, since each review is a forward pass on the CPU."""
SCORED_CHARS = 400
"""The artifact's text whose likelihood is measured (a report's prose is longer)."""
RUN_PASSAGES = 64
"""Passages of the run read for work across papers (Compare, Critique, Synthesise)."""
MULTI_PAPER = ("Compare_Methods", "Critique_Claim", "Synthesise_Report")
MODEL_FREE = ("Fetch_Paper", "Extract_Metrics")
"""Artifacts no model writes (a delivered file; figures found by pattern): no likelihood."""
COUNT_COLUMNS = ("figures", "count", "rows", "page", "pages")
"""A table's columns that count rows or pages: numbers of the table, not of the papers."""
ABSTRACT = re.compile(r"\s+Abstract\s+")
"""Where a paper's title block ends (title, authors, reference) and its body begins."""
QUOTE_CUT = 290
"""A figure's quote this long may have been cut (the Metrician keeps 300 characters)."""
REPORT_META = ("Sources", "Faithfulness")
"""A report's sections about itself, not about the papers: no claim to check there."""


# -- what the Reviewer reads -------------------------------------------------------------------

@dataclass(frozen=True)
class Source:
    """What an artifact can be checked against: the text of each paper it drew on."""

    papers: Mapping[str, str]

    @property
    def text(self) -> str:
        return "\n".join(self.papers.values())

    @cached_property
    def methods(self) -> dict[str, str]:
        """A method's name key -> its paper: the paper's file name and the short name its
        title gives ("LoRA: Low-Rank ..." -> LoRA), as the Reader names it."""
        found: dict[str, str] = {}
        for paper, text in self.papers.items():
            head = " ".join(ABSTRACT.split(text, maxsplit=1)[0].split())[:200]
            for name in (paper, method_name(head, paper)):
                if name_key(name):
                    found[name_key(name)] = paper
        return found

    @classmethod
    def of(cls, text: str, paper: str = "paper") -> Source:
        return cls({paper: text} if text else {})


@dataclass(frozen=True)
class Checks:
    """The rubric's measurements of one artifact, each in [0, 1] unless said."""

    claims: str
    """The artifact as checkable text: its prose, and its data as sentences."""
    written: str
    """What the model wrote (prose), whose likelihood is measured; "" for artifacts no model
    writes (a delivered file, figures found by pattern)."""
    faithful: float
    form: float
    parts: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    """What was found, in words, for the rationale."""

    @property
    def score(self) -> float:
        return self.faithful * self.form


@dataclass(frozen=True)
class Assessment:
    quality: float
    """In [0, 1]; the review's quality is this times MAX_QUALITY."""
    checks: Checks
    pmi: float | None
    """Grounding by likelihood, nats per token; None without likelihoods."""
    rationale: str
    rows: list[tuple[str, str]] = field(default_factory=list)
    likelihoods: list[Likelihood] = field(default_factory=list)

    def data(self) -> dict[str, Any]:
        """The score's components, as the review's data part records them."""
        return {"rubric": round(self.checks.score, 3),
                "faithfulness": round(self.checks.faithful, 3),
                "form": round(self.checks.form, 3),
                "checks": {k: round(v, 3) for k, v in self.checks.parts.items()},
                "likelihood_pmi": None if self.pmi is None else round(self.pmi, 3)}


# -- the rubric --------------------------------------------------------------------------------

def _share(found: int, total: int) -> float:
    return found / total if total else 1.0


def _words_in(words: int, low: int, high: int) -> float:
    if words == 0:
        return 0.0
    if words < low:
        return words / low
    return 1.0 if words <= high else max(0.3, high / words)


def _plain(value: Any) -> str:
    """A figure's value as prose writes it: 4700000.0 -> "4700000", not "4.7e+06"."""
    if isinstance(value, int | float) and math.isfinite(value):
        return f"{value:f}".rstrip("0").rstrip(".") or "0"
    return str(value)


def report_prose(text: str) -> str:
    """A report without what is not a claim about the papers: the sections about the report
    itself (its sources' pages, passages and similarities; how many sentences were kept),
    citation marks, list numbering, and table columns that count rows; each table row becomes
    a sentence ("lora: trainable params 4.7M; best score 91.7 on MNLI-m.")."""
    text = re.sub(r"^## (?:%s)\s*$.*?(?=^## |\Z)" % "|".join(REPORT_META), "", text,
                  flags=re.MULTILINE | re.DOTALL)
    text = re.sub(r"\s?\[(?:\d+|table)\]", "", text)
    text = re.sub(r"^\s*\d+\.\s+", "", text, flags=re.MULTILINE)
    lines, header = [], None
    for line in text.splitlines():
        if not line.lstrip().startswith("|"):
            lines.append(line)
            header = None
        elif re.fullmatch(r"\s*\|[-:| ]+\|\s*", line):
            continue
        elif header is None:
            header = _cells(line)
        else:
            lines.append(_row_claim(dict(zip(header, _cells(line), strict=False))))
    return "\n".join(lines)


def _cells(line: str) -> list[str]:
    return [cell.strip() for cell in line.strip().strip("|").split("|")]


def _faithfulness(claims: str, source: Source, notes: list[str], parts: dict[str, float],
                  scales: tuple[float, ...] = SCALES) -> float:
    numbers, stated = numbers_found(claims, source.text, scales)
    named, used = names_found(claims, source.text)
    kept, paired = attribution(claims, source.papers, source.methods, scales)
    parts.update(numbers=_share(numbers, stated), names=_share(named, used),
                 attribution=_share(kept, paired))
    notes.append(f"numbers {numbers}/{stated} in the source, names {named}/{used}")
    if paired:
        notes.append(f"figures of the method named {kept}/{paired}")
    return parts["numbers"] * parts["names"] * parts["attribution"]


def checks(task_type: str, text: str, data: Mapping[str, Any], source: Source) -> Checks:
    """The rubric of an artifact of ``task_type``: faithfulness and form (module docstring)."""
    notes: list[str] = []
    parts: dict[str, float] = {}
    written = _written(text)
    match task_type:
        case "Fetch_Paper":
            ok = bool(data.get("bytes")) and source.text.startswith("%PDF")
            notes.append("a PDF was delivered" if ok else "the file is not a PDF")
            return Checks("", "", 1.0, 1.0 if ok else 0.2, {"pdf": float(ok)}, notes)
        case "Summarise_Paper":
            claims = _written(text)
            faithful = _faithfulness(claims, source, notes, parts)
            words = len(claims.split())
            parts.update(length=_words_in(words, 12, 120), whole=float(ends_whole(claims)),
                         variety=distinct_ngrams(claims), topical=grounding(claims, source.text))
            form = (0.3 * parts["topical"] + 0.3 * parts["variety"] + 0.25 * parts["length"]
                    + 0.15 * parts["whole"])
            notes.insert(0, f"{words} words, {parts['topical']:.0%} of them in the paper")
        case "Extract_Metrics":
            records = [r for r in data.get("figures", []) if isinstance(r, Mapping)]
            written = ""  # found by pattern, not written by the model
            claims = "\n".join(_figure_claim(record) for record in records)
            # Figures are stored in one unit (hours, seconds): a change of time unit is no
            # change of value there.
            faithful = _faithfulness(claims, source, notes, parts, TIME_SCALES)
            quoted = [r for r in records if r.get("sentence")]
            body = _squash(source.text)
            in_source = sum(_squash(r["sentence"]) in body for r in quoted)
            own = sum(_value_in(r, _quoted_span(_squash(r["sentence"]), body)) for r in quoted)
            parts.update(quotes=_share(in_source, len(quoted)),
                         values_in_quotes=_share(own, len(quoted)))
            faithful *= parts["quotes"] * parts["values_in_quotes"]
            reported = {float(r["value"]) for r in records
                        if isinstance(r.get("value"), int | float)}
            available = set(quantities(_body(source.text)))
            parts.update(
                coverage=min(1.0, _share(len(reported), len(available)) / 0.5),
                # No figure is the right answer for a paper that states no number.
                variety=_share(len({(r.get("kind"), _plain(r.get("value")), r.get("subject"))
                                    for r in records}), len(records)) if records
                else float(not available))
            form = 0.6 * parts["coverage"] + 0.4 * parts["variety"]
            notes.insert(0, f"{len(records)} figures ({len(reported)} values) of the "
                            f"{len(available)} numbers the paper states")
            notes.append(f"quotes {in_source}/{len(quoted)} in the paper")
        case "Compare_Methods":
            rows = [r for r in data.get("table", []) if isinstance(r, Mapping)]
            claims = " ".join([_written(text),
                               *(_row_claim(row) for row in rows)]).strip()
            faithful = _faithfulness(claims, source, notes, parts)
            filled = sum(1 for row in rows if any(
                value not in ("", None) for key, value in row.items()
                if key not in ("method", *COUNT_COLUMNS)))
            covered = {source.methods.get(name_key(str(row.get("method", "")))) for row in rows}
            parts.update(
                filled=_share(filled, len(rows)) if rows else 0.0,
                methods=_share(len(covered - {None}), len(source.papers)) if rows else 0.0,
                said=_words_in(len(_written(text).split()), 8, 80),
                variety=distinct_ngrams(claims), topical=grounding(claims, source.text))
            form = (0.25 * parts["filled"] + 0.25 * parts["methods"] + 0.15 * parts["said"]
                    + 0.2 * parts["variety"] + 0.15 * parts["topical"])
            notes.insert(0, f"{filled}/{len(rows)} methods with figures, "
                            f"{len(covered - {None})} of {len(source.papers)} papers' methods")
        case "Critique_Claim":
            points = [p for p in data.get("points", []) if str(p).strip()]
            claims = _written(text)
            faithful = _faithfulness(claims, source, notes, parts)
            parts.update(points=min(1.0, len(points) / 2),
                         variety=distinct_ngrams(claims),
                         topical=grounding(claims, source.text + " " + data.get("claim", "")),
                         whole=float(ends_whole(claims)))
            form = (0.3 * parts["points"] + 0.3 * parts["variety"] + 0.25 * parts["topical"]
                    + 0.15 * parts["whole"])
            notes.insert(0, f"{len(points)} points argued")
        case "Synthesise_Report":
            claims = report_prose(text)
            written = _prose_only(claims)
            faithful = _faithfulness(claims, source, notes, parts)
            sections = sum(heading in text for heading in
                           ("## Synthesis", "## Metrics", "## Debate", "## Sources"))
            mentioned = {name_key(n) for n in names(claims)} | {
                name_key(w) for w in re.findall(r"[\w()-]+", claims.lower())}
            covered = {paper for key, paper in source.methods.items() if key in mentioned}
            cited = data.get("citations", 0)
            parts.update(
                sections=sections / 4,
                methods=_share(len(covered), len(source.papers)) if source.papers else 0.0,
                cited=min(1.0, cited / max(1, data.get("methods", 1))),
                variety=distinct_ngrams(_prose_only(claims)),
                topical=grounding(_prose_only(claims), source.text))
            form = (0.2 * parts["sections"] + 0.2 * parts["methods"] + 0.1 * parts["cited"]
                    + 0.3 * parts["variety"] + 0.2 * parts["topical"])
            notes.insert(0, f"{sections}/4 sections, {cited} citations, "
                            f"{len(covered)}/{len(source.papers)} papers' methods named")
        case _:
            raise PermanentTaskError(f"the reviewer has no rubric for {task_type}")
    return Checks(claims, written, faithful, form, parts, notes)


def rubric(task_type: str, text: str, data: dict, source: str) -> tuple[float, str]:
    """The rubric's score in [0, 1] and why, against one source text (no likelihoods)."""
    found = checks(task_type, text, data, Source.of(source))
    return found.score, "; ".join(found.notes)


def _written(text: str) -> str:
    """What the agent wrote: not the note an agent leaves when the model wrote nothing
    ("(the model gave no summary)", "(no argument)")."""
    return "" if re.fullmatch(r"\s*\([^()]*\)\s*", text) else text


def _figure_claim(record: Mapping[str, Any]) -> str:
    """A figure as a sentence: "memory_gb of lora (memory): 1200." The quoted sentence is
    checked on its own: it is the source's, not the claim."""
    subject = f" ({record['subject']})" if record.get("subject") else ""
    return f"{record.get('kind', 'figure')} of {record.get('paper', '')}{subject}: " \
           f"{_plain(record.get('value'))}."


def _row_claim(row: Mapping[str, Any]) -> str:
    """A table row as a sentence, without its name column and the columns that count rows."""
    name = str(row.get("method", ""))
    figures = "; ".join(f"{key} {value}" for key, value in row.items()
                        if key not in ("method", *COUNT_COLUMNS) and value not in ("", None))
    return f"{name}: {figures}." if figures else ""


def _value_in(record: Mapping[str, Any], sentence: str) -> bool:
    value = record.get("value")
    return isinstance(value, int | float) and any(
        same_quantity(float(value), q, TIME_SCALES) for q in quantities(sentence))


def _quoted_span(quote: str, body: str) -> str:
    """The source around a figure's quote: the quote, and when it was cut (a long sentence, a
    table's rows) what follows it up to the next sentence's end."""
    at = body.find(quote)
    if at < 0 or len(quote) < QUOTE_CUT:
        return quote
    end = body.find(". ", at + len(quote))
    return body[at:end if end >= 0 else len(body)]


def _squash(text: str) -> str:
    return " ".join(text.split())


def _body(text: str) -> str:
    """A paper without its title block (authors, reference): numbers a Metrician should
    find are in the body."""
    parts = ABSTRACT.split(text, maxsplit=1)
    return parts[-1]


def _prose_only(text: str) -> str:
    return "\n".join(line for line in text.splitlines()
                     if line.strip() and not line.lstrip().startswith(("#", "|")))


# -- the likelihood ----------------------------------------------------------------------------

def likelihood_rows(written: str, source: Source) -> list[tuple[str, str]]:
    """The two rows whose likelihoods make the grounding: what the model wrote after the
    source passage closest to it, and the same alone. None when either is empty."""
    scored = _cut(written, SCORED_CHARS)
    if not scored.strip() or not source.text.strip():
        return []
    context = context_for(scored, source.text, CONTEXT_CHARS)
    return [(f"{context}\n\n", scored), ("", scored)]


def pmi(found: Sequence[Likelihood]) -> float:
    """Nats per token the source passage adds to the artifact's log-likelihood."""
    given, alone = found
    return (given.logprob - alone.logprob) / max(1, given.tokens)


def _cut(text: str, chars: int) -> str:
    """The text's first whole sentences within ``chars`` (at least the first, cut)."""
    kept, size = [], 0
    for sentence in sentence_split(text):
        if size + len(sentence) > chars:
            if not kept:
                kept.append(sentence[:chars])
            break
        kept.append(sentence)
        size += len(sentence) + 1
    return " ".join(kept)


def combine(found: Checks, grounding_pmi: float | None, why_none: str = "") -> Assessment:
    rationale = "; ".join(found.notes)
    rationale += f"; rubric {found.score:.2f} (faithfulness {found.faithful:.2f} x form " \
                 f"{found.form:.2f})"
    if grounding_pmi is None:
        quality = found.score
        rationale += f"; rubric only: {why_none or 'the model gives no likelihoods'}"
    else:
        lik = min(1.0, max(0.0, grounding_pmi / PMI_FULL))
        quality = found.faithful * ((1 - LIKELIHOOD_WEIGHT) * found.form
                                    + LIKELIHOOD_WEIGHT * lik)
        rationale += (f"; grounding by likelihood {grounding_pmi:+.2f} nats/token "
                      f"({lik:.2f}), weight {LIKELIHOOD_WEIGHT}")
    return Assessment(min(1.0, max(0.0, quality)), found, grounding_pmi,
                      rationale + f"; quality {quality:.2f}")


def assess(task_type: str, text: str, data: Mapping[str, Any], source: Source,
           likelihoods: ScoresLikelihood | None) -> Assessment:
    """The whole score of one artifact: the rubric, and the likelihood when the model has
    one. Raises ModelCallError when the model fails to give likelihoods it has."""
    found = checks(task_type, text, data, source)
    # The rationale says the same whether the model is the one that gave no likelihoods or a
    # replay of its run (which finds none recorded): a replay must write the same review.
    if task_type in MODEL_FREE:
        return combine(found, None, "no model wrote this artifact")
    rows = likelihood_rows(found.written, source)
    if not rows:
        return combine(found, None, "nothing written, or no source, to ground")
    if likelihoods is None:
        return combine(found, None)
    try:
        scored = likelihoods.loglikelihoods(rows)
    except NoLikelihoodError:
        return combine(found, None)
    done = combine(found, pmi(scored))
    return Assessment(done.quality, found, done.pmi, done.rationale, rows, scored)


# -- the task ----------------------------------------------------------------------------------

def review_artifact(message: TaskMessage, kit: Toolkit) -> TaskOutcome:
    payload = message.payload
    task_type, text, data = payload["task_type"], payload.get("text", ""), payload.get("data", {})
    source = _source(task_type, payload, text, data, kit)
    likelihoods = likelihoods_of(kit.model)
    started = time.perf_counter()
    done = assess(task_type, text, data, source, likelihoods)
    calls = []
    if done.likelihoods and likelihoods is not None:
        # Recorded like a completion: the ledger shows what the score rests on, and a replay
        # answers the same call from it.
        calls.append(c.RecordModelCall(
            task_id=message.task_id, adapter=getattr(likelihoods, "adapter", "unknown"),
            model=getattr(likelihoods, "model", "unknown"), purpose="likelihood",
            prompt=describe(done.rows), response=encode(done.likelihoods),
            prompt_tokens=0, completion_tokens=sum(x.tokens for x in done.likelihoods),
            latency_ms=max(1, int((time.perf_counter() - started) * 1000))))
    value = min(MAX_QUALITY, (Decimal(str(done.quality)) * MAX_QUALITY).quantize(Decimal("0.01")))
    return TaskOutcome(
        name=f"review of {payload['target_task_id']}",
        parts=[DataPart(data={"target_task_id": payload["target_task_id"],
                              "quality": str(value), **done.data(),
                              "rationale": done.rationale})],
        tokens=sum(call.completion_tokens for call in calls),
        record=[*calls, c.ScoreReview(
            task_id=payload["target_task_id"], reviewer_id=message.agent_id, quality=value,
            rationale=done.rationale[:4096])],
    )


def _source(task_type: str, payload: dict, text: str, data: Mapping[str, Any],
            kit: Toolkit) -> Source:
    """The PDF for work on one paper; for work across papers, the run's passages closest to
    the artifact (every passage of a small corpus), grouped by paper in reading order."""
    if task_type in MULTI_PAPER and payload.get("run_id"):
        probe = (report_prose(text) if task_type == "Synthesise_Report" else text)[:1000]
        probe = probe or " ".join(str(row.get("method", "")) for row in data.get("table", []))
        hits = kit.passages.search(payload["run_id"], kit.embedder.embed([probe or "paper"])[0],
                                   limit=RUN_PASSAGES)
        by_paper: dict[str, list[Any]] = {}
        for hit in hits:
            by_paper.setdefault(hit.passage.paper, []).append(hit.passage)
        return Source({paper: " ".join(p.text for p in sorted(
            found, key=lambda p: (p.page, p.chunk))) for paper, found in sorted(by_paper.items())})
    uri = payload.get("uri")
    if not uri:
        return Source({})
    path = local_path(uri)
    if task_type == "Fetch_Paper":
        return Source.of(_head(path))
    try:
        return Source.of(" ".join(page.text for page in read_pages(path)),
                         data.get("paper") or "paper")
    except UnreadablePdfError:
        return Source({})


def _head(path: Path) -> str:
    try:
        with path.open("rb") as file:
            return file.read(5).decode("latin-1")
    except OSError:
        return ""
