"""The Synthesiser: an overview written by the model, each method's finding cited to the
passage of its paper that supports it best (found in the vector store), the comparison
table and both sides of the debate, as one Markdown report."""

from __future__ import annotations

from dataclasses import dataclass

from adapters.vector_store import Hit
from domain.tasks import DataPart, TextPart
from swarm import prompts
from swarm.passages import tidy
from swarm.toolkit import ModelSession, Toolkit
from workers.task_worker import PermanentTaskError, TaskMessage, TaskOutcome

QUOTE_CHARS = 280


@dataclass(frozen=True)
class Finding:
    method: str
    summary: str
    citation: int | None


def synthesise_report(message: TaskMessage, kit: Toolkit) -> TaskOutcome:
    payload = message.payload
    summaries = payload.get("summaries", [])
    if not summaries:
        raise PermanentTaskError("no paper was summarised: nothing to synthesise")
    topic = payload.get("topic", "parameter-efficient fine-tuning")
    sources: list[Hit] = []
    findings = []
    for item in summaries:
        hits = kit.passages.search(
            payload["run_id"], kit.embedder.embed([f"{item['method']}: {item['summary']}"])[0],
            limit=1, paper=item["paper"])
        if hits:
            sources.append(hits[0])
        findings.append(Finding(item["method"], item["summary"], len(sources) if hits else None))
    session = ModelSession(kit.model, message.task_id)
    listed = "\n".join(f"- {f.method}: {f.summary}" for f in findings)
    overview = tidy(session.ask("overview",
                                prompts.OVERVIEW.format(topic=topic, summaries=listed),
                                max_tokens=120, stop=prompts.STOP), 3)
    report = render(topic, overview, findings, sources, payload)
    return TaskOutcome(
        name="report",
        parts=[TextPart(text=report),
               DataPart(data={"citations": len(sources), "methods": len(findings)})],
        tokens=session.tokens,
        record=session.calls,
    )


def render(topic: str, overview: str, findings: list[Finding], sources: list[Hit],
           payload: dict) -> str:
    lines = [f"# {topic}: what the papers say", "", "## Synthesis", "",
             overview or "_the model wrote no overview_", "", "### Findings by method", ""]
    for finding in findings:
        cite = f" [{finding.citation}]" if finding.citation else ""
        lines.append(f"- **{finding.method}**: {finding.summary}{cite}")
    lines += ["", "## Metrics", "", payload.get("table", "_no figures were extracted_"), ""]
    if payload.get("narrative"):
        lines += [payload["narrative"], ""]
    lines += ["## Debate", ""]
    for persona, heading in (("optimist", "Pros (optimist)"), ("skeptic", "Cons (skeptic)")):
        points = payload.get("debate", {}).get(persona, [])
        lines += [f"### {heading}", ""]
        lines += [f"- {point}" for point in points] or ["- _no argument was made_"]
        lines.append("")
    lines += ["## Sources", ""]
    for number, hit in enumerate(sources, start=1):
        quote = hit.passage.text[:QUOTE_CHARS] + ("..." if len(hit.passage.text) > QUOTE_CHARS
                                                  else "")
        lines.append(f"{number}. {hit.passage.paper}, page {hit.passage.page} "
                     f"(passage {hit.passage.chunk}, similarity {hit.score:.2f}): \"{quote}\"")
    return "\n".join(lines) + "\n"
