"""A task through the A2A lifecycle: submitted -> working -> completed, or failed, canceled,
rejected; input-required pauses work until it is resumed. Reviews score a completed task."""

from __future__ import annotations

import hashlib
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field

from domain.base import Aggregate, AggregateCreated, AggregateEvent, Provenance
from domain.errors import (
    DuplicateReviewError,
    DuplicateVoteError,
    IllegalTransitionError,
    SelfReviewError,
    SelfVoteError,
)
from domain.model_calls import ModelCallRecord, prompt_digest

MAX_QUALITY = Decimal("1.5")


class TaskState(StrEnum):
    """A2A task states, spelled as A2A spells them."""

    SUBMITTED = "submitted"
    WORKING = "working"
    INPUT_REQUIRED = "input-required"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELED = "canceled"
    REJECTED = "rejected"

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL_STATES


TERMINAL_STATES = frozenset(
    {TaskState.COMPLETED, TaskState.FAILED, TaskState.CANCELED, TaskState.REJECTED}
)

ACTIVE_STATES = frozenset({TaskState.SUBMITTED, TaskState.WORKING, TaskState.INPUT_REQUIRED})
"""The states of a task that is still someone's work: every state not terminal."""


class TextPart(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    kind: Literal["text"] = "text"
    text: str


class DataPart(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    kind: Literal["data"] = "data"
    data: dict[str, Any]


class FilePart(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    kind: Literal["file"] = "file"
    uri: str = Field(min_length=1, max_length=2048)
    mime_type: str = Field(default="application/octet-stream", max_length=128)


Part = Annotated[TextPart | DataPart | FilePart, Field(discriminator="kind")]


def content_hash(parts: tuple[Part, ...]) -> str:
    """sha256 of the parts' canonical JSON: equal content, equal hash, whoever produced it."""
    canonical = orjson.dumps(
        [part.model_dump(mode="json") for part in parts], option=orjson.OPT_SORT_KEYS
    )
    return "sha256:" + hashlib.sha256(canonical).hexdigest()


class TaskIssued(AggregateCreated):
    task_id: str
    task_type: str
    payload: dict[str, Any]
    tags: tuple[str, ...] = ()
    base_reward: Decimal = Decimal(0)
    stake_required: Decimal = Decimal(0)
    parent_id: str | None = None

    def apply(self, task: Task) -> None:
        task.task_id = self.task_id
        task.task_type = self.task_type
        task.run_id = self.provenance.run_id
        task.tags = self.tags
        task.base_reward = self.base_reward
        task.stake_required = self.stake_required
        task.parent_id = self.parent_id
        task.usage = None
        task.voted = False
        task.state = TaskState.SUBMITTED
        task.assignee = None
        task.artifact_ids = []
        task.reviewers = []


class TaskAssigned(AggregateEvent):
    agent_id: str
    scores: dict[str, float] = {}
    reason: str = ""

    def apply(self, task: Task) -> None:
        task.assignee = self.agent_id


class TaskStarted(AggregateEvent):
    agent_id: str

    def apply(self, task: Task) -> None:
        task.state = TaskState.WORKING


class ArtifactProduced(AggregateEvent):
    artifact_id: str
    name: str = ""
    parts: tuple[Part, ...]
    content_hash: str

    def apply(self, task: Task) -> None:
        task.artifact_ids.append(self.artifact_id)


class TaskInputRequired(AggregateEvent):
    question: str

    def apply(self, task: Task) -> None:
        task.state = TaskState.INPUT_REQUIRED


class TaskCompleted(AggregateEvent):
    duration_ms: int = Field(ge=0)
    tokens: int = Field(ge=0)
    cpu_ms: int = Field(ge=0)

    def apply(self, task: Task) -> None:
        task.state = TaskState.COMPLETED
        task.usage = [self.duration_ms, self.tokens, self.cpu_ms]


class TaskFailed(AggregateEvent):
    reason: str

    def apply(self, task: Task) -> None:
        task.state = TaskState.FAILED


class TaskCanceled(AggregateEvent):
    reason: str

    def apply(self, task: Task) -> None:
        task.state = TaskState.CANCELED


class TaskRejected(AggregateEvent):
    agent_id: str
    reason: str

    def apply(self, task: Task) -> None:
        task.state = TaskState.REJECTED


class ReviewScored(AggregateEvent):
    reviewer_id: str
    quality: Decimal = Field(ge=0, le=MAX_QUALITY)
    rationale: str

    def apply(self, task: Task) -> None:
        task.reviewers.append(self.reviewer_id)


class PeerVoteCast(AggregateEvent):
    """The assignee of this task judged the work it built on (the parent task's)."""

    voter_id: str
    target_id: str
    target_task_id: str
    value: Decimal

    def apply(self, task: Task) -> None:
        task.voted = True


class ModelCalled(AggregateEvent, ModelCallRecord):
    """The agent working this task called a language model: recorded so that a run can be
    re-executed against changed code with the same answers, and audited."""

    purpose: str

    def apply(self, task: Task) -> None:
        pass


STATE_AFTER: dict[type[AggregateEvent], TaskState] = {
    TaskIssued: TaskState.SUBMITTED, TaskStarted: TaskState.WORKING,
    TaskInputRequired: TaskState.INPUT_REQUIRED, TaskCompleted: TaskState.COMPLETED,
    TaskFailed: TaskState.FAILED, TaskCanceled: TaskState.CANCELED,
    TaskRejected: TaskState.REJECTED}
"""The state each event leaves a task in (the others leave it as it was): one map for every
reader that folds a task's events without loading the aggregate."""


class Task(Aggregate):
    id_prefix = "task"

    @classmethod
    def issue(
        cls,
        task_id: str,
        *,
        task_type: str,
        payload: dict[str, Any],
        tags: tuple[str, ...],
        base_reward: Decimal,
        stake_required: Decimal,
        parent_id: str | None,
        at: datetime,
        provenance: Provenance,
    ) -> Task:
        return cls._create(
            TaskIssued,
            id=cls.id_for(task_id),
            task_id=task_id,
            task_type=task_type,
            payload=payload,
            tags=tags,
            base_reward=base_reward,
            stake_required=stake_required,
            parent_id=parent_id,
            timestamp=at,
            provenance=provenance,
        )

    def _require(self, action: str, *allowed: TaskState) -> None:
        if self.state not in allowed:
            names = ", ".join(state.value for state in allowed)
            raise IllegalTransitionError(
                f"cannot {action} task {self.task_id}: it is {self.state.value}, "
                f"and {action} needs it to be {names}"
            )

    def assign(
        self,
        agent_id: str,
        *,
        scores: dict[str, float],
        reason: str,
        at: datetime,
        provenance: Provenance,
    ) -> None:
        self._require("assign", TaskState.SUBMITTED)
        self.trigger_event(
            TaskAssigned,
            agent_id=agent_id,
            scores=scores,
            reason=reason,
            timestamp=at,
            provenance=provenance,
        )

    def start(self, agent_id: str, *, at: datetime, provenance: Provenance) -> None:
        self._require("start", TaskState.SUBMITTED, TaskState.INPUT_REQUIRED)
        if self.assignee is None:
            raise IllegalTransitionError(f"cannot start task {self.task_id}: it is not assigned")
        if agent_id != self.assignee:
            raise IllegalTransitionError(
                f"cannot start task {self.task_id}: it is assigned to {self.assignee}, "
                f"not {agent_id}"
            )
        self.trigger_event(TaskStarted, agent_id=agent_id, timestamp=at, provenance=provenance)

    def produce_artifact(
        self,
        artifact_id: str,
        *,
        name: str,
        parts: tuple[Part, ...],
        at: datetime,
        provenance: Provenance,
    ) -> None:
        self._require("record an artifact of", TaskState.WORKING)
        self.trigger_event(
            ArtifactProduced,
            artifact_id=artifact_id,
            name=name,
            parts=parts,
            content_hash=content_hash(parts),
            timestamp=at,
            provenance=provenance,
        )

    def record_model_call(self, *, adapter: str, model: str, purpose: str, prompt: str,
                          response: str, prompt_tokens: int, completion_tokens: int,
                          latency_ms: int, at: datetime, provenance: Provenance) -> None:
        self._require("record a model call of", TaskState.WORKING)
        self.trigger_event(
            ModelCalled, adapter=adapter, model=model, purpose=purpose,
            prompt_digest=prompt_digest(prompt), prompt=prompt, response=response,
            prompt_tokens=prompt_tokens, completion_tokens=completion_tokens,
            latency_ms=latency_ms, timestamp=at, provenance=provenance)

    def require_input(self, question: str, *, at: datetime, provenance: Provenance) -> None:
        self._require("ask for input on", TaskState.WORKING)
        self.trigger_event(
            TaskInputRequired, question=question, timestamp=at, provenance=provenance
        )

    def complete(
        self,
        *,
        duration_ms: int,
        tokens: int,
        cpu_ms: int,
        at: datetime,
        provenance: Provenance,
    ) -> None:
        self._require("complete", TaskState.WORKING)
        self.trigger_event(
            TaskCompleted,
            duration_ms=duration_ms,
            tokens=tokens,
            cpu_ms=cpu_ms,
            timestamp=at,
            provenance=provenance,
        )

    def fail(self, reason: str, *, at: datetime, provenance: Provenance) -> None:
        self._require("fail", TaskState.SUBMITTED, TaskState.WORKING, TaskState.INPUT_REQUIRED)
        self.trigger_event(TaskFailed, reason=reason, timestamp=at, provenance=provenance)

    def cancel(self, reason: str, *, at: datetime, provenance: Provenance) -> None:
        self._require("cancel", TaskState.SUBMITTED, TaskState.WORKING, TaskState.INPUT_REQUIRED)
        self.trigger_event(TaskCanceled, reason=reason, timestamp=at, provenance=provenance)

    def reject(self, agent_id: str, reason: str, *, at: datetime, provenance: Provenance) -> None:
        self._require("reject", TaskState.SUBMITTED)
        if agent_id != self.assignee:
            raise IllegalTransitionError(
                f"cannot reject task {self.task_id}: only its assignee "
                f"({self.assignee or 'nobody'}) may reject it"
            )
        self.trigger_event(
            TaskRejected, agent_id=agent_id, reason=reason, timestamp=at, provenance=provenance
        )

    def score_review(
        self,
        reviewer_id: str,
        *,
        quality: Decimal,
        rationale: str,
        at: datetime,
        provenance: Provenance,
    ) -> None:
        self._require("review", TaskState.COMPLETED)
        if reviewer_id == self.assignee:
            raise SelfReviewError(f"agent {reviewer_id} cannot review its own task {self.task_id}")
        if reviewer_id in self.reviewers:
            raise DuplicateReviewError(
                f"agent {reviewer_id} has already reviewed task {self.task_id}"
            )
        self.trigger_event(
            ReviewScored,
            reviewer_id=reviewer_id,
            quality=quality,
            rationale=rationale,
            timestamp=at,
            provenance=provenance,
        )

    @property
    def settled(self) -> bool:
        """A task's karma is settled by its first review."""
        return bool(self.reviewers)

    def cast_peer_vote(self, voter_id: str, *, target_id: str, target_task_id: str,
                       value: Decimal, at: datetime, provenance: Provenance) -> None:
        if voter_id != self.assignee:
            raise IllegalTransitionError(
                f"only the assignee of task {self.task_id} ({self.assignee or 'nobody'}) may "
                f"vote on the work it built on")
        if self.state in (TaskState.SUBMITTED, TaskState.REJECTED, TaskState.CANCELED):
            raise IllegalTransitionError(
                f"cannot vote from task {self.task_id}: it is {self.state.value}")
        if target_id == voter_id:
            raise SelfVoteError(f"agent {voter_id} cannot vote on its own work")
        if self.voted:
            raise DuplicateVoteError(f"task {self.task_id} has already cast its vote")
        self.trigger_event(PeerVoteCast, voter_id=voter_id, target_id=target_id,
                           target_task_id=target_task_id, value=value, timestamp=at,
                           provenance=provenance)

    @classmethod
    def restore_snapshot_state(cls, state: dict[str, Any]) -> dict[str, Any]:
        state["state"] = TaskState(state["state"])
        return state
