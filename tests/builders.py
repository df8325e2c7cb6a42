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


def record_learning(service) -> list[str]:
    """A learner's training run as `karma learn train` records it (without the training): five
    gated updates, the adapter, its RHI and its deployment. The gate's decisions, in order."""
    from learning.config import load_config, load_manifold

    service.execute(c.OpenTrainingSet(training_set="ledger",
                                      manifold=load_manifold().model_dump(mode="json")))
    service.execute(c.OpenLearner(learner="dual", host_model="gemma-3-270m",
                                  training_set="ledger", learning_rate=2e-4))
    service.execute(c.StartTrainingRun(learner="dual", run="r1",
                                       config=load_config(learner="dual").model_dump(mode="json"),
                                       data_digest="sha256:" + "0" * 64, data={"examples": 4}))
    decisions = [service.execute(c.GateUpdate(
        learner="dual", run="r1", partial_rhi=partial, dcs=partial, gvs=partial, gvi=0.1,
        loss=1.0 - step / 10, learning_rate=2e-4, examples=2, pairs=2)).ids["decision"]
        for step, partial in enumerate((0.9, 0.8, 0.4, 0.25, 0.85))]
    digest = "sha256:" + "1" * 64
    service.execute(c.RecordAdapter(learner="dual", run="r1", digest=digest,
                                    decisions={"apply": 3, "skip": 1, "rollback": 1},
                                    path="adapters/dual/1"))
    service.execute(c.MeasureRhi(learner="dual", run="r1", digest=digest, rhi=0.76,
                                 components={"dcs": 0.8, "gvs": 0.7}, weights={"dcs": 0.25},
                                 calibration={"gvi_max": 1.0}))
    service.execute(c.DeployAdapter(learner="dual", digest=digest))
    return decisions


def record_colony(service) -> None:
    """Two organelles of a colony, two generations of scored episodes (the colony's policy
    prices them), each generation closed."""
    from domain.ecology import ENERGY_AMOUNTS
    from domain.energy import EnergyPolicy

    run, policy = "colony-1", EnergyPolicy()
    service.execute(c.FoundColony(run_id=run, colony_id=run, config_digest="sha256:c",
                                  energy={k: getattr(policy, k) for k in ENERGY_AMOUNTS},
                                  strikes_to_cull=3))
    for organelle in ("colony-1-o1", "colony-1-o2"):
        service.execute(c.SpawnOrganelle(run_id=run, colony_id=run, organelle_id=organelle,
                                         adapter_digest="sha256:0"))
    for generation, scores in ((1, (0.0, 1.0)), (2, (1.0, 1.0))):
        for organelle, family, score in (("colony-1-o1", "arithmetic", scores[0]),
                                         ("colony-1-o2", "boolean-logic", scores[1])):
            service.execute(c.ScoreEpisode(
                run_id=run, organelle_id=organelle, generation=generation, family=family,
                difficulty=1, question="2+2", answer="4", score=score, checker="exact",
                tokens=6, latency_ms=120, cell_success=0.5))
        service.execute(c.CloseGeneration(run_id=run, colony_id=run, generation=generation,
                                          living=2, culled=0, episodes=2,
                                          mean_score=sum(scores) / 2,
                                          energy_total=Decimal(20), energy_gini=0.1))
