"""An organelle's work of one generation: answer its tasks (several samples each, in one
batch on the host), have every answer checked, and train on the answers that passed (expert
iteration: no labelled answer is ever shown to it). The same work runs in the colony's own
process or on a worker anywhere (``karma ecology worker``): it is described by an
``Assignment`` that travels as JSON, and its outcome is a list of commands recorded in one
transaction, ending with the organelle's ``RecordWork``, which the ledger accepts once per
generation.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from adapters.lora_host import OrganelleHost
from domain.ecology import EpisodeScored, GenerationWorked, Organelle
from ecology.families import FAMILIES, Problem, check
from handlers import commands as c

Cell = tuple[str, int]


class AssignedTask(BaseModel):
    model_config = ConfigDict(frozen=True)

    family: str
    difficulty: int = Field(ge=1)
    question: str
    answer: str
    """For the checker only: the prompt never holds it."""
    prompt: str
    cell_success: float = Field(ge=0, le=1)

    @property
    def problem(self) -> Problem:
        return Problem(self.family, self.difficulty, self.question, self.answer)


class Assignment(BaseModel):
    """What an organelle is to do in a generation, and the adapter it starts from."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    run_id: str
    organelle_id: str
    generation: int = Field(ge=1)
    adapter_digest: str
    tasks: list[AssignedTask] = Field(min_length=1)
    samples_per_prompt: int = Field(ge=1)
    max_new_tokens: int = Field(ge=1)
    temperature: float = Field(gt=0)
    steps: int = Field(ge=0)
    seed: int
    rank: int = Field(ge=1)
    alpha: int = Field(ge=1)
    learning_rate: float = Field(gt=0)
    """The adapter's shape and rate, for a worker that has not held it before."""


def perform(host: OrganelleHost, job: Assignment, worker: str = "") -> list[c.Command]:
    """Do the work on ``host`` (which holds the organelle's adapter at the job's digest) and
    return what to record."""
    prompts = [task.prompt for task in job.tasks for _ in range(job.samples_per_prompt)]
    started = time.perf_counter()
    samples = host.sample(job.organelle_id, prompts, max_new_tokens=job.max_new_tokens,
                          temperature=job.temperature, seed=job.seed)
    sample_seconds = time.perf_counter() - started
    latency_ms = int(sample_seconds * 1000 / len(samples))
    episodes: list[c.Command] = []
    kept: list[tuple[str, str]] = []
    for index, sample in enumerate(samples):
        task = job.tasks[index // job.samples_per_prompt]
        verdict = check(FAMILIES[task.family], task.problem, sample.text)
        episodes.append(c.ScoreEpisode(
            run_id=job.run_id, organelle_id=job.organelle_id, generation=job.generation,
            family=task.family, difficulty=task.difficulty, question=task.question,
            answer=sample.text.replace("\x00", "")[:4096], score=verdict.score,
            checker=verdict.checker,
            tokens=sample.tokens, latency_ms=latency_ms, cell_success=task.cell_success))
        if verdict.score == 1.0:
            kept.append((prompts[index], sample.text))
    examples = list(dict.fromkeys(kept))
    started, loss = time.perf_counter(), None
    steps = job.steps if examples else 0
    for _ in range(steps):
        loss = host.train(job.organelle_id, examples)
    return [*episodes, c.RecordWork(
        run_id=job.run_id, organelle_id=job.organelle_id, generation=job.generation,
        episodes=len(episodes), examples=len(examples), steps=steps, loss=loss,
        sample_seconds=sample_seconds, train_seconds=time.perf_counter() - started,
        adapter_digest=host.digest(job.organelle_id), worker=worker)]


@dataclass(frozen=True)
class Worked:
    """A generation's work as the ledger recorded it, wherever it was done."""

    organelle_id: str
    scores: list[tuple[Cell, float]]
    adapter_digest: str
    seconds: float
    """Sampling and training: the compute the same-compute baseline is given."""
    worker: str


def worked(organelle_id: str, generation: int, events: list[object]) -> Worked | None:
    """The organelle's recorded work of ``generation`` among its events, or None if it has
    not been recorded (yet)."""
    done = next((e for e in events if isinstance(e, GenerationWorked)
                 and e.generation == generation), None)
    if done is None:
        return None
    scores = [((e.family, e.difficulty), e.score) for e in events
              if isinstance(e, EpisodeScored) and e.generation == generation]
    return Worked(organelle_id, scores, done.adapter_digest,
                  done.sample_seconds + done.train_seconds, done.worker)


def recorded_work(ledger: Any, job: Assignment) -> Worked | None:
    """The job's work as the ledger holds it, or None while it is not recorded."""
    events = list(ledger.repository.event_store.get(Organelle.id_for(job.organelle_id)))
    return worked(job.organelle_id, job.generation, events)


Perform = Callable[[list[Assignment]], list[Worked]]
"""Has assignments done (here or by workers) and returns their recorded work."""
