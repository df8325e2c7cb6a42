"""The task types this system knows, in one registry: what the doors accept (REST's
``POST /v1/tasks``, A2A's ``message/send``), the tags an A2A-issued task carries, and the work
queues on the TASKS stream that the AsyncAPI document lists.

A task type is *issued* through the ledger (``IssueTask``): the relay then queues its
``TaskIssued`` CloudEvent on ``tasks.<type>``. A queue that is not issued is fed by its
producer directly with a message of its own (the ecology's generations of work), so no door
may issue a task of that type: its workers could not read the message.
"""

from __future__ import annotations

from dataclasses import dataclass

from domain.errors import DomainError
from streams.topology import Topology


@dataclass(frozen=True)
class TaskType:
    name: str
    tags: tuple[str, ...]
    """The karma scope of a task of this type issued over A2A."""
    description: str
    issued: bool = True
    """Issued through the ledger (IssueTask); False: its producer queues its own messages."""


TASK_TYPES: tuple[TaskType, ...] = (
    TaskType("Fetch_Paper", ("fetch",),
             "Fetch a paper (a local path, a file:// URL or http(s)) into the papers folder."),
    TaskType("Summarise_Paper", ("peft", "summarization"),
             "Read a PDF, store its passages with embeddings and summarise it."),
    TaskType("Extract_Metrics", ("peft", "metrics"),
             "Extract parameter counts, scores and memory figures from a paper."),
    TaskType("Compare_Methods", ("peft", "comparison"),
             "Tabulate the methods' figures side by side and say what the table shows."),
    TaskType("Critique_Claim", ("peft", "critique"),
             "Argue a claim from two personas, optimist and skeptic."),
    TaskType("Synthesise_Report", ("peft", "synthesis"),
             "Write the report: overview, findings cited to passages, metrics and debate."),
    TaskType("Review_Artifact", ("review",),
             "Score an artifact for the karma economy (quality 0 to 1.5)."),
    TaskType(Topology().ecology_work, (),
             "An organelle's generation of work (the ecology's Assignment as JSON), queued by "
             "`karma ecology run --on-workers` for `karma ecology worker`.", issued=False),
)

REGISTRY: dict[str, TaskType] = {task_type.name: task_type for task_type in TASK_TYPES}


class UnknownTaskTypeError(DomainError):
    code = "unknown_task_type"


def queued_task_types() -> list[TaskType]:
    """Every queue on the TASKS stream, by name: what the AsyncAPI document lists."""
    return sorted(TASK_TYPES, key=lambda task_type: task_type.name)


def issuable_task_types() -> list[str]:
    """The task types a door may issue, sorted."""
    return sorted(task_type.name for task_type in TASK_TYPES if task_type.issued)


def require_task_type(name: str) -> TaskType:
    """The issuable task type ``name``, or UnknownTaskTypeError naming the known ones."""
    found = REGISTRY.get(name)
    if found is None or not found.issued:
        raise UnknownTaskTypeError(f"unknown task type {name!r}; known: "
                                   f"{', '.join(issuable_task_types())}")
    return found
