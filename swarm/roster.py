"""Who is in the swarm: twelve agents in six roles (seed 000) and the Reviewer, the task
types each role works, the tags a task of each type carries (its karma scope), and the A2A
Agent Card that describes each agent."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

from swarm.analysis import compare_methods, extract_metrics
from swarm.debate import critique_claim
from swarm.reading import summarise_paper
from swarm.reviewing import review_artifact
from swarm.synthesis import synthesise_report
from swarm.toolkit import Toolkit
from workers.task_handlers import fetch_paper
from workers.task_types import REGISTRY
from workers.task_worker import TaskHandler


@dataclass(frozen=True)
class Role:
    name: str
    task_type: str
    instances: int
    description: str

    @property
    def tags(self) -> tuple[str, ...]:
        """The karma scope of its tasks: the task-type registry's, so that a task issued by
        the swarm, over REST or over A2A carries the same tags."""
        return REGISTRY[self.task_type].tags


ROLES = (
    Role("fetcher", "Fetch_Paper", 3,
         "Fetches a paper from a local path, a file:// URL or http(s)."),
    Role("reader", "Summarise_Paper", 3,
         "Reads a PDF with pypdf, stores its passages with MiniLM embeddings in Qdrant, "
         "and summarises it."),
    Role("metrician", "Extract_Metrics", 2,
         "Extracts parameter counts, scores and memory figures with regular expressions "
         "and pandas."),
    Role("analyst", "Compare_Methods", 2,
         "Tabulates the methods' figures side by side and says what the table shows."),
    Role("debater", "Critique_Claim", 1,
         "Argues a claim from two personas, optimist and skeptic."),
    Role("synthesiser", "Synthesise_Report", 1,
         "Writes the report: an overview, findings cited to passages, metrics and debate."),
    Role("reviewer", "Review_Artifact", 1,
         "Scores every artifact for the karma economy (quality 0 to 1.5)."),
)

ROLE_OF_TASK = {role.task_type: role for role in ROLES}


def agent_ids(role: Role) -> list[str]:
    return [f"{role.name}-{number}" for number in range(1, role.instances + 1)]


def all_agents() -> list[tuple[str, Role]]:
    return [(agent_id, role) for role in ROLES for agent_id in agent_ids(role)]


def handlers(kit: Toolkit) -> dict[str, TaskHandler]:
    made: dict[str, Callable[..., Any]] = {
        "Fetch_Paper": lambda message: fetch_paper(message, kit.papers_dir),
        "Summarise_Paper": partial(summarise_paper, kit=kit),
        "Extract_Metrics": partial(extract_metrics, kit=kit),
        "Compare_Methods": partial(compare_methods, kit=kit),
        "Critique_Claim": partial(critique_claim, kit=kit),
        "Synthesise_Report": partial(synthesise_report, kit=kit),
        "Review_Artifact": partial(review_artifact, kit=kit),
    }
    return made


def agent_card(agent_id: str, role: Role, base_url: str) -> dict[str, Any]:
    """An A2A Agent Card: who the agent is, where to reach it, what it can do."""
    return {
        "name": agent_id,
        "description": role.description,
        "url": f"{base_url}/a2a",
        "version": "1.0.0",
        "protocolVersion": "0.3.0",
        "capabilities": {"streaming": False, "pushNotifications": False,
                         "stateTransitionHistory": True},
        "defaultInputModes": ["application/json"],
        "defaultOutputModes": ["application/json", "text/plain"],
        "skills": [{"id": role.task_type, "name": role.task_type.replace("_", " "),
                    "description": role.description, "tags": list(role.tags)}],
    }
