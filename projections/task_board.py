"""Runs and tasks: every task's A2A state, assignee, artifacts and review scores."""

from __future__ import annotations

from typing import Any

from psycopg import Cursor
from psycopg.types.json import Jsonb

from domain.base import AggregateEvent, key_of
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


class TaskBoardProjection(Projection):
    name = "task_board"
    tables = {"runs": "run_id", "tasks": "task_id"}
    origins = {"runs": "run/{run_id}", "tasks": "task/{task_id}"}

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

    @handles(TaskIssued)
    def task_issued(self, event: TaskIssued, curs: Cursor[Any], position: int) -> None:
        curs.execute(
            "INSERT INTO tasks (task_id, run_id, task_type, state, parent_id, tags,"
            " base_reward, stake_required, issued_at, updated_at)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            (event.task_id, event.provenance.run_id, event.task_type,
             TaskState.SUBMITTED.value, event.parent_id, Jsonb(list(event.tags)),
             event.base_reward, event.stake_required, event.timestamp, event.timestamp),
        )

    @handles(TaskAssigned)
    def task_assigned(self, event: TaskAssigned, curs: Cursor[Any], position: int) -> None:
        self._update(curs, event, "assignee = %s", event.agent_id)

    @handles(TaskStarted)
    def task_started(self, event: TaskStarted, curs: Cursor[Any], position: int) -> None:
        self._update(curs, event, "state = %s", TaskState.WORKING.value)

    @handles(ArtifactProduced)
    def artifact_produced(self, event: ArtifactProduced, curs: Cursor[Any], position: int) -> None:
        self._update(curs, event, "artifacts = artifacts + %s", 1)

    @handles(TaskInputRequired)
    def input_required(self, event: TaskInputRequired, curs: Cursor[Any], position: int) -> None:
        self._update(curs, event, "state = %s", TaskState.INPUT_REQUIRED.value,
                     reason=event.question)

    @handles(TaskCompleted)
    def task_completed(self, event: TaskCompleted, curs: Cursor[Any], position: int) -> None:
        self._update(curs, event, "state = %s", TaskState.COMPLETED.value)

    @handles(TaskFailed)
    def task_failed(self, event: TaskFailed, curs: Cursor[Any], position: int) -> None:
        self._update(curs, event, "state = %s", TaskState.FAILED.value, reason=event.reason)

    @handles(TaskCanceled)
    def task_canceled(self, event: TaskCanceled, curs: Cursor[Any], position: int) -> None:
        self._update(curs, event, "state = %s", TaskState.CANCELED.value, reason=event.reason)

    @handles(TaskRejected)
    def task_rejected(self, event: TaskRejected, curs: Cursor[Any], position: int) -> None:
        self._update(curs, event, "state = %s", TaskState.REJECTED.value, reason=event.reason)

    @handles(ReviewScored)
    def review_scored(self, event: ReviewScored, curs: Cursor[Any], position: int) -> None:
        curs.execute(
            "UPDATE tasks SET reviews = reviews + 1, quality_sum = quality_sum + %s,"
            " updated_at = %s WHERE task_id = %s",
            (event.quality, event.timestamp, key_of(event.originator_id)),
        )

    @staticmethod
    def _update(
        curs: Cursor[Any], event: AggregateEvent, assignment: str, value: Any,
        reason: str | None = None,
    ) -> None:
        curs.execute(
            f"UPDATE tasks SET {assignment}, updated_at = %s,"  # noqa: S608 - fixed fragments
            " last_reason = COALESCE(%s, last_reason) WHERE task_id = %s",
            (value, event.timestamp, reason, key_of(event.originator_id)),
        )
