"""The Synthesiser: an overview written by the model, each method's finding cited to the
passage of its paper that supports it, the comparison table and both sides of the debate, as
one Markdown report. Every generated sentence is checked against the passages before it goes
in (``domain.faithfulness``): a number or a name the passages do not hold sends the sentence
out, replaced by the closest sentence of the source, quoted, or dropped; the report counts
how many of each."""

from __future__ import annotations

from dataclasses import dataclass

from adapters.vector_store import Hit
from domain.faithfulness import Checked, Tally, check
from domain.tasks import DataPart, TextPart
from swarm import prompts
from swarm.passages import tidy
from swarm.toolkit import ModelSession, Toolkit
from workers.task_worker import PermanentTaskError, TaskMessage, TaskOutcome

QUOTE_CHARS = 280
PASSAGES_PER_FINDING = 3
WORKED_EXAMPLES = (prompts.SUMMARY, prompts.NARRATIVE, prompts.CRITIQUE, prompts.OVERVIEW,
                   *(example for _, example in prompts.PERSONAS.values()))
"""The prompts' own text: a sentence copied from it is the model continuing the pattern."""


@dataclass(frozen=True)
class Finding:
    method: str
    sentences: list[Checked]
    citations: list[int | None]
    """the source number each sentence cites (1-based, into the report's sources)"""


class Sources:
    """The passages a report cites, numbered in order of first citation."""

    def __init__(self) -> None:
        self.hits: list[Hit] = []
        self._numbers: dict[tuple[str, int], int] = {}

    def number(self, hit: Hit) -> int:
        key = (hit.passage.paper, hit.passage.chunk)
        if key not in self._numbers:
            self.hits.append(hit)
            self._numbers[key] = len(self.hits)
        return self._numbers[key]

    @property
    def texts(self) -> list[str]:
        return [hit.passage.text for hit in self.hits]


def synthesise_report(message: TaskMessage, kit: Toolkit) -> TaskOutcome:
    payload = message.payload
    summaries = payload.get("summaries", [])
    if not summaries:
        raise PermanentTaskError("no paper was summarised: nothing to synthesise")
    topic = payload.get("topic", "parameter-efficient fine-tuning")
    sources, tally = Sources(), Tally()
    findings = []
    for item in summaries:
        hits = kit.passages.search(
            payload["run_id"], kit.embedder.embed([f"{item['method']}: {item['summary']}"])[0],
            limit=PASSAGES_PER_FINDING, paper=item["paper"])
        checked = check(item["summary"], [hit.passage.text for hit in hits], WORKED_EXAMPLES,
                        tally)
        findings.append(Finding(item["method"], checked, [
            sources.number(hits[sentence.citation]) if sentence.citation is not None else None
            for sentence in checked]))
    session = ModelSession(kit.model, message.task_id)
    listed = "\n".join(f"- {f.method}: {_said(f.sentences)}" for f in findings)
    overview = tidy(session.ask("overview",
                                prompts.OVERVIEW.format(topic=topic, summaries=listed),
                                max_tokens=120, stop=prompts.STOP), 3)
    cited = sources.texts
    overview_checked = check(overview, cited, WORKED_EXAMPLES, tally)
    # The comparison and the debate argue from the table: each of its rows is a source beside
    # the passages (a sentence's figures must all sit in the row of one method, or it gives a
    # method another's), and so are its headlines (built from the figures, not generated).
    table = payload.get("table", "")
    headlines = payload.get("headlines", [])
    rows = [line for line in table.splitlines()[2:] if line.startswith("|")]
    argued_from = [*cited, *rows, " ".join(headlines)]
    owners = [*(hit.passage.paper for hit in sources.hits),
              *(row.split("|")[1].strip() for row in rows), None]
    narrative = check(payload.get("narrative", ""), argued_from, WORKED_EXAMPLES, tally,
                      owners)
    debate = {persona: [sentence for point in payload.get("debate", {}).get(persona, [])
                        for sentence in check(point, argued_from, WORKED_EXAMPLES, tally,
                                              owners)]
              for persona in prompts.PERSONAS}
    report = render(topic, Rendered(overview_checked, findings, table, narrative, debate,
                                    sources, tally, headlines))
    return TaskOutcome(
        name="report",
        parts=[TextPart(text=report),
               DataPart(data={"citations": len(sources.hits), "methods": len(findings),
                              "sentences": tally.as_data()})],
        tokens=session.tokens,
        record=session.calls,
    )


@dataclass(frozen=True)
class Rendered:
    overview: list[Checked]
    findings: list[Finding]
    table: str
    narrative: list[Checked]
    debate: dict[str, list[Checked]]
    sources: Sources
    tally: Tally
    headlines: list[str]


def render(topic: str, parts: Rendered) -> str:
    table_number = len(parts.sources.hits)  # the table's sentences cite it by name instead

    def cite(sentence: Checked, number: int | None = None) -> str:
        if number is None and sentence.citation is not None:
            number = sentence.citation + 1
        if number is None:
            return sentence.text
        marker = " [table]" if number > table_number else f" [{number}]"
        # Inside the sentence's full stop, so that splitting the report into sentences
        # keeps each citation with the sentence it belongs to.
        quoted = sentence.text.startswith('"') and sentence.text.endswith('"')
        body = sentence.text[1:-1] if quoted else sentence.text
        if not body.endswith((".", "!", "?")):
            return sentence.text + marker
        words = f'"{body[:-1]}"' if quoted else body[:-1]
        return f"{words}{marker}{body[-1]}"

    overview = " ".join(cite(s) for s in parts.overview if s.text)
    lines = [f"# {topic}: what the papers say", "", "## Synthesis", "",
             overview or "_no sentence of the model's overview passed the check_", ""]
    if parts.headlines:
        lines += ["### How they compare (from the metrics table)", ""]
        lines += [f"- {headline}" for headline in parts.headlines] + [""]
    lines += ["### Findings by method", ""]
    for finding in parts.findings:
        said = " ".join(cite(s, n) for s, n in zip(finding.sentences, finding.citations,
                                                   strict=True) if s.text)
        lines.append(f"- **{finding.method}**: {said or '_no sentence passed the check_'}")
    lines += ["", "## Metrics", "", parts.table or "_no figures were extracted_", ""]
    narrative = " ".join(cite(s) for s in parts.narrative if s.text)
    if narrative:
        lines += [narrative, ""]
    lines += ["## Debate", ""]
    for persona, heading in (("optimist", "Pros (optimist)"), ("skeptic", "Cons (skeptic)")):
        points = [cite(s) for s in parts.debate.get(persona, []) if s.text]
        lines += [f"### {heading}", ""]
        lines += [f"- {point}" for point in points] or [
            "- _no argument was made that passed the check_"]
        lines.append("")
    lines += ["## Faithfulness", "", f"{parts.tally.summary()}.", ""]
    lines += ["## Sources", ""]
    for number, hit in enumerate(parts.sources.hits, start=1):
        quote = hit.passage.text[:QUOTE_CHARS] + ("..." if len(hit.passage.text) > QUOTE_CHARS
                                                  else "")
        lines.append(f"{number}. {hit.passage.paper}, page {hit.passage.page} "
                     f"(passage {hit.passage.chunk}, similarity {hit.score:.2f}): \"{quote}\"")
    return "\n".join(lines) + "\n"


def _said(sentences: list[Checked]) -> str:
    return " ".join(sentence.text.strip('"') for sentence in sentences if sentence.text)
