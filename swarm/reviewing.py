"""The Reviewer scores each artifact for the economy: quality 0..1.5, from a rubric per task
type (checks anyone can repeat: grounding in the source, completeness) weighted 0.7, and the
model's 1-5 grade weighted 0.3. The score is a ReviewScored on the reviewed task, which is
what pays its agent."""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path

from adapters.pdf import UnreadablePdfError, read_pages
from domain.rubric import grounding, variety  # shared with learning.harvest's labels
from domain.tasks import MAX_QUALITY, DataPart
from handlers import commands as c
from swarm import prompts
from swarm.reading import local_path
from swarm.toolkit import ModelSession, Toolkit
from workers.task_worker import PermanentTaskError, TaskMessage, TaskOutcome

RUBRIC_WEIGHT = 0.7


def rubric(task_type: str, text: str, data: dict, source: str) -> tuple[float, str]:
    """A score in [0, 1] and why, for the artifact of a task of ``task_type``."""
    match task_type:
        case "Fetch_Paper":
            ok = bool(data.get("bytes")) and source.startswith("%PDF")
            return (1.0, "a PDF was delivered") if ok else (0.2, "the file is not a PDF")
        case "Summarise_Paper":
            words = len(text.split())
            length = 1.0 if 12 <= words <= 120 else 0.4
            ground = grounding(text, source)
            score = 0.3 * length + 0.5 * ground + 0.2 * variety(text)
            return score, f"{words} words, {ground:.0%} grounded in the paper"
        case "Extract_Metrics":
            found = len(data.get("figures", []))
            return min(1.0, found / 3), f"{found} figures extracted"
        case "Compare_Methods":
            rows = data.get("table", [])
            filled = sum(1 for row in rows if any(row.get(k) for k in (
                "trainable params", "param share %", "memory named (GB)", "best score")))
            share = filled / len(rows) if rows else 0.0
            said = 1.0 if len(text.split()) >= 8 else 0.3
            return 0.6 * share + 0.4 * said, f"{filled}/{len(rows)} methods with figures"
        case "Critique_Claim":
            points = len(data.get("points", []))
            return min(1.0, points / 2), f"{points} points argued"
        case "Synthesise_Report":
            cited = data.get("citations", 0)
            sections = sum(heading in text for heading in
                           ("## Synthesis", "## Metrics", "## Debate", "## Sources"))
            return (0.5 * sections / 4 + 0.5 * min(1.0, cited / max(1, data.get("methods", 1))),
                    f"{sections}/4 sections, {cited} citations")
    raise PermanentTaskError(f"the reviewer has no rubric for {task_type}")


def parse_grade(answer: str) -> int | None:
    found = re.match(r"\s*([1-5])\b", answer)
    return int(found.group(1)) if found else None


def review_artifact(message: TaskMessage, kit: Toolkit) -> TaskOutcome:
    payload = message.payload
    task_type, text, data = payload["task_type"], payload.get("text", ""), payload.get("data", {})
    score, why = rubric(task_type, text, data, _source(task_type, payload))
    session = ModelSession(kit.model, message.task_id)
    shown = text or str(data)[:600]
    grade = parse_grade(session.ask("grade", prompts.GRADE.format(
        task_type=task_type, artifact=shown[:800]), max_tokens=3, stop=("\n",)))
    if grade is None:
        quality, why = score, why + "; the model's grade was unreadable"
    else:
        quality = RUBRIC_WEIGHT * score + (1 - RUBRIC_WEIGHT) * (grade - 1) / 4
        why += f"; model grade {grade}/5"
    value = min(MAX_QUALITY, (Decimal(str(quality)) * MAX_QUALITY).quantize(Decimal("0.01")))
    return TaskOutcome(
        name=f"review of {payload['target_task_id']}",
        parts=[DataPart(data={"target_task_id": payload["target_task_id"],
                              "quality": str(value), "rubric": round(score, 3),
                              "grade": grade, "rationale": why})],
        tokens=session.tokens,
        record=[*session.calls, c.ScoreReview(
            task_id=payload["target_task_id"], reviewer_id=message.agent_id, quality=value,
            rationale=why)],
    )


def _source(task_type: str, payload: dict) -> str:
    uri = payload.get("uri")
    if not uri:
        return ""
    path = local_path(uri)
    if task_type == "Fetch_Paper":
        return _head(path)
    try:
        return " ".join(page.text for page in read_pages(path))
    except UnreadablePdfError:
        return ""


def _head(path: Path) -> str:
    try:
        with path.open("rb") as file:
            return file.read(5).decode("latin-1")
    except OSError:
        return ""
