"""Runs and tasks: every task's A2A state, assignee, artifacts and review scores."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from psycopg import Cursor
from psycopg.types.json import Jsonb

from domain.base import DomainEvent, key_of
from domain.runs import RunFinished, RunStarted
from domain.tasks import (
    ArtifactProduced,
    ReviewScored,
    TaskAssigned,
    TaskCanceled,
    TaskCompleted,
    TaskFailed,
    TaskInputRequired,
    TaskIssued,
    TaskRejected,
    TaskStarted,
    TaskState,
)
from projections.base import Projection, handles

TASK_EVENTS = (TaskIssued, TaskAssigned, TaskStarted, ArtifactProduced, TaskInputRequired,
               TaskCompleted, TaskFailed, TaskCanceled, TaskRejected, ReviewScored)
STATE_AFTER = {TaskStarted: TaskState.WORKING, TaskInputRequired: TaskState.INPUT_REQUIRED,
               TaskCompleted: TaskState.COMPLETED, TaskFailed: TaskState.FAILED,
               TaskCanceled: TaskState.CANCELED, TaskRejected: TaskState.REJECTED}


class TaskBoardProjection(Projection):
    name = "task_board"
    tables = {"runs": "run_id", "tasks": "task_id"}
    origins = {"runs": "run/{run_id}", "tasks": "task/{task_id}"}
    reads = (RunStarted, RunFinished, *TASK_EVENTS)

    @handles(RunStarted)
    def run_started(self, event: RunStarted, curs: Cursor[Any], position: int) -> None:
        curs.execute(
            "INSERT INTO runs (run_id, workflow, config_digest, seed, code_version, started_at)"
            " VALUES (%s, %s, %s, %s, %s, %s)",
            (event.run_id, event.workflow, event.config_digest, event.seed,
             event.code_version, event.timestamp),
        )

    @handles(RunFinished)
    def run_finished(self, event: RunFinished, curs: Cursor[Any], position: int) -> None:
        curs.execute(
            "UPDATE runs SET outcome = %s, finished_at = %s WHERE run_id = %s",
            (event.outcome.value, event.timestamp, key_of(event.originator_id)),
        )

    def apply_batch(self, curs: Cursor[Any], events: list[tuple[int, DomainEvent]]) -> None:
        """Runs event by event (they are few); tasks folded: one INSERT for a task issued in
        the batch, with whatever else befell it there, and one UPDATE for any other task the
        batch touched, instead of a statement per event."""
        changes: dict[str, _TaskChange] = {}
        for position, event in events:
            if isinstance(event, RunStarted | RunFinished):
                self.apply(event, curs, position)
                continue
            if not isinstance(event, TASK_EVENTS):
                continue
            change = changes.setdefault(key_of(event.originator_id), _TaskChange())
            change.add(event)
        inserts = [c.row() for c in changes.values() if c.issued is not None]
        updates = [c.update(task_id) for task_id, c in changes.items() if c.issued is None]
        if inserts:
            curs.executemany(
                "INSERT INTO tasks (task_id, run_id, task_type, state, assignee, parent_id,"
                " tags, base_reward, stake_required, artifacts, reviews, quality_sum,"
                " last_reason, issued_at, updated_at)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)", inserts)
        if updates:
            curs.executemany(
                "UPDATE tasks SET assignee = COALESCE(%s, assignee), state = COALESCE(%s, state),"
                " artifacts = artifacts + %s, reviews = reviews + %s,"
                " quality_sum = quality_sum + %s, last_reason = COALESCE(%s, last_reason),"
                " updated_at = %s WHERE task_id = %s", updates)


@dataclass
class _TaskChange:
    """What one batch did to one task, in the order it happened."""

    issued: TaskIssued | None = None
    assignee: str | None = None
    state: str | None = None
    artifacts: int = 0
    reviews: int = 0
    quality: Decimal = field(default_factory=Decimal)
    reason: str | None = None
    updated_at: datetime | None = None

    def add(self, event: DomainEvent) -> None:
        self.updated_at = event.timestamp
        match event:
            case TaskIssued():
                self.issued, self.state = event, TaskState.SUBMITTED.value
            case TaskAssigned():
                self.assignee = event.agent_id
            case ArtifactProduced():
                self.artifacts += 1
            case ReviewScored():
                self.reviews += 1
                self.quality += event.quality
            case _:
                self.state = STATE_AFTER[type(event)].value
                reason = getattr(event, "reason", None) or getattr(event, "question", None)
                self.reason = reason if reason is not None else self.reason

    def row(self) -> tuple[Any, ...]:
        issued = self.issued
        assert issued is not None
        return (issued.task_id, issued.provenance.run_id, issued.task_type, self.state,
                self.assignee, issued.parent_id, Jsonb(list(issued.tags)), issued.base_reward,
                issued.stake_required, self.artifacts, self.reviews, Decimal(0) + self.quality,
                self.reason, issued.timestamp, self.updated_at)

    def update(self, task_id: str) -> tuple[Any, ...]:
        return (self.assignee, self.state, self.artifacts, self.reviews, self.quality,
                self.reason, self.updated_at, task_id)
