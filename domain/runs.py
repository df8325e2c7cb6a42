"""A run: one execution of a workflow, the unit people replay and debug."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import Field

from domain.base import Aggregate, AggregateCreated, AggregateEvent, Provenance
from domain.errors import IllegalTransitionError


class RunOutcome(StrEnum):
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELED = "canceled"


class RunStarted(AggregateCreated):
    """Version 2 added ``replay_of``: the recorded run that this one replays, if any."""

    class_version = 2

    run_id: str
    workflow: str = Field(min_length=1, max_length=128)
    config_digest: str = Field(max_length=128)
    seed: int
    code_version: str = Field(max_length=128)
    replay_of: str | None = None

    @staticmethod
    def upcast_v1_v2(state: dict[str, Any]) -> None:
        state["replay_of"] = None

    def apply(self, run: Run) -> None:
        run.run_id = self.run_id
        run.workflow = self.workflow
        run.replay_of = self.replay_of
        run.outcome = None


class RunFinished(AggregateEvent):
    outcome: RunOutcome
    summary: str = Field(default="", max_length=4096)

    def apply(self, run: Run) -> None:
        run.outcome = self.outcome


class Run(Aggregate):
    id_prefix = "run"

    @classmethod
    def start(
        cls,
        run_id: str,
        *,
        workflow: str,
        config_digest: str,
        seed: int,
        code_version: str,
        at: datetime,
        provenance: Provenance,
        replay_of: str | None = None,
    ) -> Run:
        return cls._create(
            RunStarted,
            id=cls.id_for(run_id),
            run_id=run_id,
            workflow=workflow,
            config_digest=config_digest,
            seed=seed,
            code_version=code_version,
            replay_of=replay_of,
            timestamp=at,
            provenance=provenance,
        )

    @property
    def pays_karma(self) -> bool:
        """A replay re-runs recorded work: paying it again would count the same work twice,
        so its tasks move no real karma (its figures are computed, not paid)."""
        return self.replay_of is None

    def finish(
        self, outcome: RunOutcome, summary: str, *, at: datetime, provenance: Provenance
    ) -> None:
        if self.outcome is not None:
            raise IllegalTransitionError(
                f"run {self.run_id} already finished ({self.outcome.value})"
            )
        self.trigger_event(
            RunFinished, outcome=outcome, summary=summary, timestamp=at, provenance=provenance
        )
