"""The Metrician pulls a paper's figures out of its text; the Analyst tabulates every
paper's figures side by side and writes what the table says."""

from __future__ import annotations

from adapters.pdf import Page, UnreadablePdfError, read_pages
from domain.tasks import DataPart, TextPart
from handlers import commands as c
from swarm import figures, prompts
from swarm.passages import tidy
from swarm.reading import local_path
from swarm.toolkit import ModelSession, Toolkit
from workers.task_worker import PermanentTaskError, TaskMessage, TaskOutcome

MAX_FIGURES = 60


def extract_metrics(message: TaskMessage, kit: Toolkit) -> TaskOutcome:
    payload = message.payload
    try:
        pages = read_pages(local_path(payload["uri"]))
    except UnreadablePdfError as error:
        raise PermanentTaskError(str(error)) from None
    found = figures.extract(payload["paper"], " ".join(_prose(page) for page in pages),
                            [row for page in pages for row in page.rows])
    records = figures.table(figures.as_records(found)).head(MAX_FIGURES).to_dict("records")
    # The Reader's summary is what this task built on: a summary is useful if it is not empty.
    useful = bool(payload.get("summary", "").strip())
    return TaskOutcome(
        name=f"figures of {payload['paper']}",
        parts=[DataPart(data={"paper": payload["paper"], "method": payload.get("method", ""),
                              "figures": records})],
        record=[c.CastPeerVote(task_id=message.task_id, voter_id=message.agent_id, up=useful)]
        if message.parent_id else [],
    )


def _prose(page: Page) -> str:
    """The page's text without its tables' rows, which are read cell by cell: run together
    as a sentence, a row's numbers would be taken for the header word before them."""
    if not page.lines:
        return page.text
    return " ".join(" ".join(line) for line in page.lines if len(line) == 1)


def compare_methods(message: TaskMessage, kit: Toolkit) -> TaskOutcome:
    rows = message.payload.get("figures", [])
    if not rows:
        raise PermanentTaskError("no paper yielded any figures to compare")
    papers = message.payload.get("papers")
    table = figures.comparison(rows, papers)
    headlines = figures.headlines(rows, papers)
    rendered = figures.markdown(table)
    session = ModelSession(kit.model, message.task_id)
    narrative = tidy(session.ask("comparison narrative",
                                 prompts.NARRATIVE.format(table=rendered),
                                 max_tokens=100, stop=prompts.STOP), 2)
    return TaskOutcome(
        name="comparison of methods",
        parts=[TextPart(text=narrative or "(the model gave no narrative)"),
               DataPart(data={"table": table.to_dict("records"), "markdown": rendered,
                              "headlines": headlines})],
        tokens=session.tokens,
        record=session.calls,
    )
