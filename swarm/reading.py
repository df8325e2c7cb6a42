"""The Reader: a fetched PDF becomes passages in the vector store and a two-sentence summary.
A file that is no readable PDF fails the task, and the Reader downvotes the Fetcher that
delivered it (the seed's example of peer review)."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlparse

from adapters.pdf import UnreadablePdfError, read_pages
from domain.tasks import DataPart, TextPart
from handlers import commands as c
from swarm import prompts
from swarm.passages import chunk, tidy
from swarm.toolkit import ModelSession, Toolkit
from workers.task_worker import PermanentTaskError, TaskMessage, TaskOutcome

EXCERPT_CHARS = 1200


def local_path(uri: str) -> Path:
    parsed = urlparse(uri)
    return Path(unquote(parsed.path)) if parsed.scheme == "file" else Path(uri)


def method_name(title: str, paper: str) -> str:
    """'LoRA: Low-Rank Adaptation of ...' -> 'LoRA'; a title without a short name -> the
    paper's file name."""
    head = title.split(":", 1)[0].strip()
    return head if ":" in title and 0 < len(head.split()) <= 3 else paper


def summarise_paper(message: TaskMessage, kit: Toolkit) -> TaskOutcome:
    payload = message.payload
    paper, run_id = payload["paper"], payload["run_id"]
    vote_on_fetcher = (c.CastPeerVote(task_id=message.task_id, voter_id=message.agent_id,
                                      up=False) if message.parent_id else None)
    try:
        pages = read_pages(local_path(payload["uri"]))
    except UnreadablePdfError as error:
        raise PermanentTaskError(str(error), record=_votes(vote_on_fetcher, up=False)) from None
    passages = chunk(paper, pages)
    kit.passages.add(run_id, passages, kit.embedder.embed([p.text for p in passages]))
    text = " ".join(page.text for page in pages)
    title = payload.get("title") or text.split(" Abstract ", 1)[0][:200]
    session = ModelSession(kit.model, message.task_id)
    summary = tidy(session.ask("summary", prompts.SUMMARY.format(excerpt=_excerpt(text)),
                               max_tokens=90, stop=prompts.STOP), 2)
    return TaskOutcome(
        name=f"summary of {paper}",
        parts=[TextPart(text=summary or "(the model gave no summary)"),
               DataPart(data={"paper": paper, "title": title, "method": method_name(title, paper),
                              "pages": len(pages), "passages": len(passages),
                              "words": len(text.split())})],
        tokens=session.tokens,
        record=[*session.calls, *_votes(vote_on_fetcher, up=True)],
    )


def _excerpt(text: str) -> str:
    """The abstract when the paper has one: it says what the method does and achieves."""
    start = text.find("Abstract")
    body = text[start + len("Abstract"):] if start >= 0 else text
    return body.strip()[:EXCERPT_CHARS]


def _votes(vote: c.CastPeerVote | None, up: bool) -> list[c.Command]:
    return [] if vote is None else [vote.model_copy(update={"up": up})]
