"""Small helpers that build domain objects for tests, with a fixed clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from itertools import count

from domain.base import Provenance
from domain.karma import KarmaAccount
from domain.tasks import Task, TextPart
from handlers import commands as c
from handlers.service import LedgerService

T0 = datetime(2026, 1, 1, tzinfo=UTC)
PROVENANCE = Provenance(run_id="run-1", correlation_id="corr-1", causation_id="command:test")


class StepClock:
    """A clock that moves one millisecond per reading: deterministic, strictly increasing."""

    def __init__(self, start: datetime = T0) -> None:
        self._ticks = count()
        self._start = start

    def __call__(self) -> datetime:
        return self._start + timedelta(milliseconds=next(self._ticks))


def task(task_id: str = "t1") -> Task:
    issued = Task.issue(task_id, task_type="Summarise_Paper", payload={"pdf": "a.pdf"},
                        tags=("peft",), base_reward=Decimal(3), stake_required=Decimal(0),
                        parent_id=None, at=T0, provenance=PROVENANCE)
    issued.collect_events()
    return issued


def working_task(agent_id: str = "reader-1") -> Task:
    issued = task()
    issued.assign(agent_id, scores={}, reason="test", at=T0, provenance=PROVENANCE)
    issued.start(agent_id, at=T0, provenance=PROVENANCE)
    issued.collect_events()
    return issued


def completed_task(agent_id: str = "reader-1") -> Task:
    done = working_task(agent_id)
    done.produce_artifact("a1", name="summary", parts=(TextPart(text="s"),), at=T0,
                          provenance=PROVENANCE)
    done.complete(duration_ms=1, tokens=2, cpu_ms=3, at=T0, provenance=PROVENANCE)
    done.collect_events()
    return done


def account(agent_id: str = "reader-1", balance: Decimal = Decimal(0)) -> KarmaAccount:
    opened = KarmaAccount.open(agent_id, at=T0, provenance=PROVENANCE)
    if balance:
        opened.mint(balance, reason="seed", task_id=None, scope=(), at=T0, provenance=PROVENANCE)
    opened.collect_events()
    return opened


def register(service: LedgerService, *agent_ids: str, role: str = "reader") -> None:
    service.execute_batch([c.RegisterAgent(agent_id=a, role=role) for a in agent_ids])


def completed_task_via(service: LedgerService, agent_id: str = "reader-1",
                       run_id: str | None = None) -> str:
    """Issue, assign, start, deliver and complete a task through the service."""
    task_id = service.execute(c.IssueTask(task_type="Summarise_Paper", run_id=run_id,
                                          tags=["peft"], base_reward=Decimal(3))).ids["task_id"]
    service.execute_batch([
        c.AssignTask(task_id=task_id, agent_id=agent_id),
        c.StartTask(task_id=task_id, agent_id=agent_id),
        c.RecordArtifact(task_id=task_id, parts=[TextPart(text="a summary")]),
        c.CompleteTask(task_id=task_id, duration_ms=1200, tokens=300, cpu_ms=900),
    ])
    return task_id
