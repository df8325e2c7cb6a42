"""Cassette replay: re-run a recorded research run against the code as it is now, with every
model answer served from the run's ModelCalled events, and say where the two runs part."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import orjson

from adapters.llm_replay import RecordedCall
from app.bootstrap import Container
from domain.errors import NotFoundError
from domain.tasks import ModelCalled, TaskState
from swarm.conductor import Conductor, TaskFacts


def run_events(container: Container, run_id: str) -> Iterator[tuple[int, Any]]:
    return ((p, e) for p, e in container.ledger.history() if e.provenance.run_id == run_id)


@dataclass(frozen=True)
class Recording:
    run_id: str
    topic: str
    papers: dict[str, str]
    calls: list[RecordedCall]
    facts: Conductor


def load_recording(container: Container, run_id: str) -> Recording:
    facts = Conductor(container.service, run_id, topic="")
    calls: list[RecordedCall] = []
    events = list(run_events(container, run_id))
    if not events:
        raise NotFoundError(f"unknown run {run_id!r}")
    facts.observe(events)
    for _, event in events:
        # A task's model calls only: a knowledge graph's (graph.ModelCalled) are no answers
        # the swarm's agents asked for.
        if isinstance(event, ModelCalled):
            calls.append(RecordedCall(event.purpose, event.prompt_digest, event.response,
                                      event.model, event.prompt_tokens,
                                      event.completion_tokens))
    papers = {f.payload["paper"]: f.payload.get("path") or f.payload.get("url")
              for f in facts.tasks.values() if f.task_type == "Fetch_Paper"}
    return Recording(run_id, facts.topic or "parameter-efficient fine-tuning", papers, calls,
                     facts)


@dataclass(frozen=True)
class Divergence:
    task: str
    recorded: str
    replayed: str


def first_divergence(recorded: Conductor, replayed: Conductor) -> Divergence | None:
    """The first task, in the recorded run's order, whose outcome differs in the replay."""
    for task_id, before in recorded.tasks.items():
        local = task_id.removeprefix(recorded.run_id + ".")
        after = replayed.tasks.get(f"{replayed.run_id}.{local}")
        if after is None:
            return Divergence(local, _describe(before), "never issued")
        if (before.state, _fingerprint(before, recorded.run_id)) != (
                after.state, _fingerprint(after, replayed.run_id)):
            return Divergence(local, _describe(before), _describe(after))
    extra = [t for t in replayed.tasks if t.removeprefix(replayed.run_id + ".") not in
             {r.removeprefix(recorded.run_id + ".") for r in recorded.tasks}]
    if extra:
        return Divergence(extra[0].removeprefix(replayed.run_id + "."), "never issued",
                          _describe(replayed.tasks[extra[0]]))
    return None


def _fingerprint(facts: TaskFacts, run_id: str) -> str:
    """The artifact's content with the run's own id taken out (task ids contain it)."""
    content = orjson.dumps({"text": facts.text, "data": facts.data, "uri": facts.uri},
                           option=orjson.OPT_SORT_KEYS).decode().replace(run_id, "<run>")
    return hashlib.sha256(content.encode()).hexdigest()


def _describe(facts: TaskFacts) -> str:
    if facts.state is TaskState.COMPLETED:
        return f"completed with artifact {facts.content_hash}"
    return f"{facts.state}" + (f": {facts.reason}" if facts.reason else "")
