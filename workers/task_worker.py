"""An agent that works tasks from its queue: claim, do, record, then let the queue go.

The queue (streams/work_queue.py) delivers a task message; this module decides what the
ledger says about it. A task is claimed by assigning and starting it as this worker's agent
in one save; its artifact and completion are saved together, before the message is acked,
so a worker killed at any point leaves either nothing or the whole result behind, and the
redelivered message finishes the task exactly once.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from eventsourcing.application import AggregateNotFoundError
from pydantic import BaseModel, ConfigDict

from domain.errors import IllegalTransitionError, NotFoundError
from domain.tasks import Part, Task, TaskState
from handlers import commands as c
from handlers.service import LedgerService


class PermanentTaskError(Exception):
    """The task cannot succeed however often it is tried: fail it now, with this reason.
    ``record`` is what the agent still has to say (a model call it made, a vote on the work
    it was given), saved with the failure."""

    def __init__(self, reason: str, record: list[c.Command] | None = None) -> None:
        super().__init__(reason)
        self.record = record or []


class TaskMessage(BaseModel):
    """What a worker needs from a TaskIssued CloudEvent."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    task_id: str
    task_type: str
    payload: dict[str, Any] = {}
    tags: tuple[str, ...] = ()
    parent_id: str | None = None
    agent_id: str = ""
    """The agent working the task: set by the worker, so a handler can act as it."""

    @classmethod
    def from_cloud_event(cls, body: dict[str, Any]) -> TaskMessage:
        return cls.model_validate(body["data"])


@dataclass(frozen=True)
class TaskOutcome:
    parts: list[Part]
    name: str = ""
    tokens: int = 0
    record: list[c.Command] = field(default_factory=list)
    """Saved with the artifact, before the completion: the model calls that produced it, a
    peer vote, a review the agent scored."""


TaskHandler = Callable[[TaskMessage], TaskOutcome]


class Claim(Enum):
    WORK = "work"
    """This worker now holds the task (new, or its own after a crash): do it."""
    DONE = "done"
    """Already finished (a redelivery after the result was saved): just ack."""
    ELSEWHERE = "elsewhere"
    """Another agent holds it: leave it for that agent."""


@dataclass
class TaskWorker:
    service: LedgerService
    agent_id: str
    handlers: dict[str, TaskHandler]
    clock: Callable[[], float] = field(default=time.perf_counter)

    def __post_init__(self) -> None:
        self.actor = c.Principal(role="agent", agent_id=self.agent_id)
        self._admin = c.ADMIN

    def claim(self, message: TaskMessage, attempts: int = 3) -> Claim:
        """Decide, and record, whether this worker does the task. A lost race with another
        claimer is settled by looking again at what the ledger now says."""
        for _ in range(attempts - 1):
            try:
                return self._claim(message)
            except IllegalTransitionError:
                continue
        return self._claim(message)

    def holder_of(self, task_id: str) -> str | None:
        """The agent that must finish the task: its assignee while the task is open; None
        while nobody holds it, and once it has ended, when any worker may take its message (a
        claim of an ended task just acks it). Eventsourcing's AggregateNotFoundError for a
        task the ledger does not hold."""
        task = self._task(task_id)
        return None if task.state.is_terminal else task.assignee

    def _task(self, task_id: str) -> Task:
        return self.service.ledger.repository.get(Task.id_for(task_id))

    def _claim(self, message: TaskMessage) -> Claim:
        try:
            task = self._task(message.task_id)
        except AggregateNotFoundError:
            raise NotFoundError(f"unknown task {message.task_id!r}") from None
        if task.state.is_terminal:
            return Claim.DONE
        if task.assignee not in (None, self.agent_id):
            return Claim.ELSEWHERE
        if task.state is TaskState.WORKING:
            return Claim.WORK
        commands: list[c.Command] = []
        if task.assignee is None:
            commands.append(c.AssignTask(task_id=message.task_id, agent_id=self.agent_id,
                                         reason="claimed from the work queue"))
        commands.append(c.StartTask(task_id=message.task_id, agent_id=self.agent_id))
        # Assigning is an admin's act; the worker assigns only itself, and only an
        # unassigned task, so it acts as the queue's dispatcher here.
        self.service.execute_batch(commands, self._admin if task.assignee is None else self.actor)
        return Claim.WORK

    def perform(self, message: TaskMessage) -> None:
        handler = self.handlers.get(message.task_type)
        if handler is None:
            raise PermanentTaskError(f"this worker has no handler for {message.task_type}")
        started, cpu_started = self.clock(), time.thread_time()
        outcome = handler(message.model_copy(update={"agent_id": self.agent_id}))
        duration_ms = int((self.clock() - started) * 1000)
        cpu_ms = int((time.thread_time() - cpu_started) * 1000)
        self.service.execute_batch([
            *outcome.record,
            c.RecordArtifact(task_id=message.task_id, name=outcome.name, parts=outcome.parts),
            c.CompleteTask(task_id=message.task_id, duration_ms=duration_ms,
                           tokens=outcome.tokens, cpu_ms=cpu_ms),
        ], self.actor)

    def fail(self, message: TaskMessage, reason: str, record: list[c.Command] = ()) -> None:
        task = self._task(message.task_id)
        if task.state.is_terminal:
            return
        mine = task.assignee == self.agent_id
        failure = c.FailTask(task_id=message.task_id, reason=reason[:4096])
        self.service.execute_batch([*record, failure] if mine else [failure],
                                   self.actor if mine else self._admin)
