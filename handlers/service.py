"""The command side: one short handler per command — load, decide, save — and the map from
command to handler at the bottom.

A unit of work loads each aggregate once, and saves every aggregate a command (or a batch
of commands) touched in one ``Ledger.save``: one transaction, all or nothing. A write that
loses an optimistic-concurrency race is retried from a fresh load.
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, TypeVar

import structlog
from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import IntegrityError

from domain.agents import Agent
from domain.base import Aggregate, Provenance, event_id
from domain.economy import EconomyPolicy, decay_factor, quantize, review_game, reward
from domain.errors import AgentRetiredError, IllegalTransitionError, UnknownTagError
from domain.karma import GLOBAL_SCOPE, KarmaAccount
from domain.rating import Rating
from domain.rating import update as update_rating
from domain.runs import Run
from domain.scheduler import Standing, choose
from domain.tasks import Task
from handlers import commands as c
from handlers.errors import AlreadyExistsError, ConcurrencyError, ForbiddenError, NotFoundError
from handlers.ledger import Ledger

log = structlog.get_logger(__name__)

A = TypeVar("A", bound=Aggregate)

MAX_ATTEMPTS = 25
BACKOFF_CAP_S = 0.1
MAX_BATCH = 500
"""Commands saved in one transaction at most; the library hangs on very large saves."""


def utc_now() -> datetime:
    return datetime.now(UTC)


def new_id() -> str:
    """128 random bits as hex: a uuid4's entropy without building a UUID object."""
    return os.urandom(16).hex()


@dataclass(frozen=True)
class CommandResult:
    position: int
    """Ledger position of the last event written; wait for it to read your own writes."""
    event_ids: list[str]
    ids: dict[str, str] = field(default_factory=dict)


class UnitOfWork:
    """The aggregates one command or batch has loaded or created, saved together."""

    def __init__(self, ledger: Ledger) -> None:
        self._ledger = ledger
        self._aggregates: dict[str, Aggregate] = {}

    def get(self, cls: type[A], key: str) -> A:
        aggregate_id = cls.id_for(key)
        if aggregate_id not in self._aggregates:
            try:
                self._aggregates[aggregate_id] = self._ledger.repository.get(aggregate_id)
            except AggregateNotFoundError:
                raise NotFoundError(f"unknown {cls.id_prefix} {key!r}") from None
        aggregate = self._aggregates[aggregate_id]
        if not isinstance(aggregate, cls):
            raise NotFoundError(f"unknown {cls.id_prefix} {key!r}")
        return aggregate

    def exists(self, cls: type[Aggregate], key: str) -> bool:
        aggregate_id = cls.id_for(key)
        return aggregate_id in self._aggregates or aggregate_id in self._ledger.repository

    def add(self, *aggregates: Aggregate) -> None:
        for aggregate in aggregates:
            self._aggregates[aggregate.id] = aggregate

    def commit(self) -> CommandResult:
        recordings = self._ledger.save_aggregates(*self._aggregates.values())
        return CommandResult(
            position=max((r.notification.id for r in recordings), default=0),
            event_ids=[
                event_id(r.domain_event.originator_id, r.domain_event.originator_version)
                for r in recordings
            ],
        )


Handler = Callable[["LedgerService", Any, c.Principal, UnitOfWork], dict[str, str]]


class LedgerService:
    def __init__(
        self,
        ledger: Ledger,
        policy: EconomyPolicy | None = None,
        clock: Callable[[], datetime] = utc_now,
        make_id: Callable[[], str] = new_id,
    ) -> None:
        self.ledger = ledger
        self.policy = policy or EconomyPolicy()
        self.clock = clock
        self.make_id = make_id

    def execute(self, command: c.Command, actor: c.Principal = c.ADMIN) -> CommandResult:
        return self.execute_batch([command], actor)

    def execute_batch(
        self, commands: Sequence[c.Command], actor: c.Principal = c.ADMIN
    ) -> CommandResult:
        """Run the commands in order and save all their events in one transaction; if any is
        refused, none is written."""
        if not 0 < len(commands) <= MAX_BATCH:
            raise ValueError(f"a batch holds 1 to {MAX_BATCH} commands, not {len(commands)}")
        for attempt in range(1, MAX_ATTEMPTS + 1):
            unit = UnitOfWork(self.ledger)
            ids: dict[str, str] = {}
            for command in commands:
                ids.update(HANDLERS[type(command)](self, command, actor, unit))
            try:
                result = unit.commit()
            except IntegrityError:
                # Full jitter: writers that collided spread out instead of colliding again.
                delay = random.uniform(0, min(BACKOFF_CAP_S, 0.002 * 2**attempt))
                log.debug("write conflict; retrying", attempt=attempt, delay_s=round(delay, 4),
                          command=type(commands[0]).__name__)
                time.sleep(delay)
                continue
            return CommandResult(result.position, result.event_ids, ids)
        raise ConcurrencyError(
            f"gave up after {MAX_ATTEMPTS} attempts: other writers kept changing the same records"
        )

    def provenance(self, command: c.Command, run_id: str | None = None) -> Provenance:
        return Provenance(
            run_id=command.run_id or run_id,
            correlation_id=command.correlation_id or self.make_id(),
            causation_id=command.causation_id or f"command:{type(command).__name__}:{self.make_id()}",
        )


def require_admin(actor: c.Principal, action: str) -> None:
    if not actor.is_admin:
        raise ForbiddenError(f"{actor.describe()} may not {action}; it needs an admin token")


def require_self(actor: c.Principal, agent_id: str | None, action: str) -> None:
    if not actor.is_admin and actor.agent_id != agent_id:
        raise ForbiddenError(
            f"{actor.describe()} may not {action} as {agent_id or 'another agent'}"
        )


def require_run(unit: UnitOfWork, command: c.Command) -> None:
    if command.run_id is not None:
        unit.get(Run, command.run_id)


def register_agent(svc: LedgerService, cmd: c.RegisterAgent, actor: c.Principal,
                   unit: UnitOfWork) -> dict[str, str]:
    require_admin(actor, "register agents")
    require_run(unit, cmd)
    if unit.exists(Agent, cmd.agent_id):
        raise AlreadyExistsError(f"agent {cmd.agent_id!r} is already registered")
    at, provenance = svc.clock(), svc.provenance(cmd)
    agent = Agent.register(cmd.agent_id, role=cmd.role, persona=cmd.persona,
                           skills=tuple(cmd.skills), at=at, provenance=provenance)
    account = KarmaAccount.open(cmd.agent_id, at=at, provenance=provenance)
    unit.add(agent, account)
    return {"agent_id": cmd.agent_id}


def retire_agent(svc: LedgerService, cmd: c.RetireAgent, actor: c.Principal,
                 unit: UnitOfWork) -> dict[str, str]:
    require_admin(actor, "retire agents")
    require_run(unit, cmd)
    unit.get(Agent, cmd.agent_id).retire(cmd.reason, at=svc.clock(),
                                         provenance=svc.provenance(cmd))
    return {"agent_id": cmd.agent_id}


def start_run(svc: LedgerService, cmd: c.StartRun, actor: c.Principal,
              unit: UnitOfWork) -> dict[str, str]:
    require_admin(actor, "start runs")
    run_id = cmd.run_id or svc.make_id()
    if cmd.run_id is not None and unit.exists(Run, run_id):
        raise AlreadyExistsError(f"run {run_id!r} already exists")
    run = Run.start(run_id, workflow=cmd.workflow,
                    config_digest=cmd.config_digest or svc.policy.digest(),
                    seed=cmd.seed, code_version=cmd.code_version, at=svc.clock(),
                    provenance=svc.provenance(cmd, run_id))
    unit.add(run)
    return {"run_id": run_id}


def finish_run(svc: LedgerService, cmd: c.FinishRun, actor: c.Principal,
               unit: UnitOfWork) -> dict[str, str]:
    require_admin(actor, "finish runs")
    unit.get(Run, cmd.run_id).finish(cmd.outcome, cmd.summary, at=svc.clock(),
                                     provenance=svc.provenance(cmd))
    return {"run_id": cmd.run_id}


def issue_task(svc: LedgerService, cmd: c.IssueTask, actor: c.Principal,
               unit: UnitOfWork) -> dict[str, str]:
    require_admin(actor, "issue tasks")
    require_run(unit, cmd)
    task_id = cmd.task_id or svc.make_id()
    # A generated id is a fresh uuid4: only an id the caller chose can already be taken.
    if cmd.task_id is not None and unit.exists(Task, task_id):
        raise AlreadyExistsError(f"task {task_id!r} already exists")
    if cmd.parent_id is not None:
        unit.get(Task, cmd.parent_id)
    unknown = svc.policy.unknown_tags(cmd.tags)
    if unknown:
        raise UnknownTagError(f"unknown tags {unknown}; the policy {svc.policy.name!r} allows "
                              f"{list(svc.policy.tags)}")
    base = cmd.base_reward if cmd.base_reward is not None else svc.policy.base_reward(
        cmd.task_type)
    stake = cmd.stake_required if cmd.stake_required is not None else svc.policy.stake_for(base)
    task = Task.issue(task_id, task_type=cmd.task_type, payload=cmd.payload,
                      tags=tuple(cmd.tags), base_reward=base, stake_required=stake,
                      parent_id=cmd.parent_id, at=svc.clock(), provenance=svc.provenance(cmd))
    unit.add(task)
    return {"task_id": task_id}


def assign_task(svc: LedgerService, cmd: c.AssignTask, actor: c.Principal,
                unit: UnitOfWork) -> dict[str, str]:
    require_admin(actor, "assign tasks")
    task = unit.get(Task, cmd.task_id)
    assign(svc, unit, task, cmd.agent_id, cmd.scores, cmd.reason, svc.provenance(cmd, task.run_id))
    return {"task_id": cmd.task_id}


def assign(svc: LedgerService, unit: UnitOfWork, task: Task, agent_id: str,
           scores: dict[str, float], reason: str, provenance: Provenance) -> None:
    """Assign, moving the task's stake: back to a previous assignee, from the new one."""
    unit.get(Agent, agent_id).ensure_active()
    at = svc.clock()
    previous = task.assignee
    task.assign(agent_id, scores=scores, reason=reason, at=at, provenance=provenance)
    if previous is not None:
        _release_stake(unit, task, previous, returned=True,
                       reason=f"task {task.task_id} was reassigned", at=at,
                       provenance=provenance)
    if task.stake_required > 0:
        unit.get(KarmaAccount, agent_id).stake(task.stake_required, task_id=task.task_id,
                                               at=at, provenance=provenance)


def _release_stake(unit: UnitOfWork, task: Task, agent_id: str | None, *, returned: bool,
                   reason: str, at: datetime, provenance: Provenance) -> None:
    if agent_id is None:
        return
    account = unit.get(KarmaAccount, agent_id)
    if account.stake_on(task.task_id) is None:
        return
    if returned:
        account.return_stake(task.task_id, reason, at=at, provenance=provenance)
    else:
        account.slash_stake(task.task_id, reason, at=at, provenance=provenance)


def start_task(svc: LedgerService, cmd: c.StartTask, actor: c.Principal,
               unit: UnitOfWork) -> dict[str, str]:
    require_self(actor, cmd.agent_id, "start tasks")
    task = unit.get(Task, cmd.task_id)
    unit.get(Agent, cmd.agent_id).ensure_active()
    task.start(cmd.agent_id, at=svc.clock(), provenance=svc.provenance(cmd, task.run_id))
    return {"task_id": cmd.task_id}


def _assigned_task(unit: UnitOfWork, cmd: c.TaskCommand, actor: c.Principal,
                   action: str) -> Task:
    task = unit.get(Task, cmd.task_id)
    require_self(actor, task.assignee, action)
    return task


def record_artifact(svc: LedgerService, cmd: c.RecordArtifact, actor: c.Principal,
                    unit: UnitOfWork) -> dict[str, str]:
    task = _assigned_task(unit, cmd, actor, "record artifacts of this task")
    artifact_id = svc.make_id()
    task.produce_artifact(artifact_id, name=cmd.name, parts=tuple(cmd.parts), at=svc.clock(),
                          provenance=svc.provenance(cmd, task.run_id))
    return {"task_id": cmd.task_id, "artifact_id": artifact_id}


def request_input(svc: LedgerService, cmd: c.RequestInput, actor: c.Principal,
                  unit: UnitOfWork) -> dict[str, str]:
    task = _assigned_task(unit, cmd, actor, "ask for input on this task")
    task.require_input(cmd.question, at=svc.clock(), provenance=svc.provenance(cmd, task.run_id))
    return {"task_id": cmd.task_id}


def complete_task(svc: LedgerService, cmd: c.CompleteTask, actor: c.Principal,
                  unit: UnitOfWork) -> dict[str, str]:
    task = _assigned_task(unit, cmd, actor, "complete this task")
    task.complete(duration_ms=cmd.duration_ms, tokens=cmd.tokens, cpu_ms=cmd.cpu_ms,
                  at=svc.clock(), provenance=svc.provenance(cmd, task.run_id))
    return {"task_id": cmd.task_id}


def fail_task(svc: LedgerService, cmd: c.FailTask, actor: c.Principal,
              unit: UnitOfWork) -> dict[str, str]:
    task = _assigned_task(unit, cmd, actor, "fail this task")
    at, provenance = svc.clock(), svc.provenance(cmd, task.run_id)
    task.fail(cmd.reason, at=at, provenance=provenance)
    _release_stake(unit, task, task.assignee, returned=False,
                   reason=f"task {task.task_id} failed: {cmd.reason}"[:1024], at=at,
                   provenance=provenance)
    return {"task_id": cmd.task_id}


def cancel_task(svc: LedgerService, cmd: c.CancelTask, actor: c.Principal,
                unit: UnitOfWork) -> dict[str, str]:
    require_admin(actor, "cancel tasks")
    task = unit.get(Task, cmd.task_id)
    at, provenance = svc.clock(), svc.provenance(cmd, task.run_id)
    task.cancel(cmd.reason, at=at, provenance=provenance)
    _release_stake(unit, task, task.assignee, returned=True,
                   reason=f"task {task.task_id} was canceled", at=at, provenance=provenance)
    return {"task_id": cmd.task_id}


def reject_task(svc: LedgerService, cmd: c.RejectTask, actor: c.Principal,
                unit: UnitOfWork) -> dict[str, str]:
    require_self(actor, cmd.agent_id, "reject tasks")
    task = unit.get(Task, cmd.task_id)
    at, provenance = svc.clock(), svc.provenance(cmd, task.run_id)
    task.reject(cmd.agent_id, cmd.reason, at=at, provenance=provenance)
    _release_stake(unit, task, cmd.agent_id, returned=True,
                   reason=f"task {task.task_id} was rejected", at=at, provenance=provenance)
    return {"task_id": cmd.task_id}


def score_review(svc: LedgerService, cmd: c.ScoreReview, actor: c.Principal,
                 unit: UnitOfWork) -> dict[str, str]:
    require_self(actor, cmd.reviewer_id, "review")
    task = unit.get(Task, cmd.task_id)
    unit.get(Agent, cmd.reviewer_id).ensure_active()
    first_review = not task.settled
    at = svc.clock()
    task.score_review(cmd.reviewer_id, quality=cmd.quality, rationale=cmd.rationale,
                      at=at, provenance=svc.provenance(cmd, task.run_id))
    if first_review and task.assignee is not None:
        settle(svc, unit, task, cmd.quality, at, svc.provenance(
            cmd, task.run_id).model_copy(update={"causation_id": event_id(task.id, task.version)}))
    return {"task_id": cmd.task_id}


def settle(svc: LedgerService, unit: UnitOfWork, task: Task, quality: Decimal, at: datetime,
           provenance: Provenance) -> None:
    """A task's first review pays its assignee by the policy's formula, returns or slashes
    its stake, and counts as a rated game in the global scope and each of its tags."""
    policy = svc.policy
    account = unit.get(KarmaAccount, task.assignee)
    initial = initial_rating(policy)
    standing, _ = account.rating(GLOBAL_SCOPE, initial)
    duration_ms, tokens, cpu_ms = task.usage or (0, 0, 0)
    breakdown = reward(policy, task.base_reward, quality, duration_ms, tokens, cpu_ms,
                       standing.deviation)
    entry = {"reason": f"review of task {task.task_id}", "task_id": task.task_id,
             "scope": task.tags, "formula": breakdown.model_dump(), "at": at,
             "provenance": provenance}
    if task.task_id in account.stakes:
        succeeded = quality >= policy.reward.success_quality
        outcome = "succeeded" if succeeded else "failed review"
        _release_stake(unit, task, task.assignee, returned=succeeded,
                       reason=f"task {task.task_id} {outcome} (quality {quality})", at=at,
                       provenance=provenance)
    if breakdown.delta > 0:
        account.mint(breakdown.delta, **entry)
    elif breakdown.delta < 0 and account.balance > 0:
        account.burn(min(-breakdown.delta, account.balance), **entry)
    game = review_game(policy, quality)
    for scope in (GLOBAL_SCOPE, *task.tags):
        current, played = account.rating(scope, initial)
        account.rate(scope, update_rating(current, [game], policy.volatility.tau), played + 1,
                     task_id=task.task_id, at=at, provenance=provenance)


def initial_rating(policy: EconomyPolicy) -> Rating:
    return Rating(1500.0, policy.volatility.initial_deviation,
                  policy.volatility.initial_volatility)


def schedule_task(svc: LedgerService, cmd: c.ScheduleTask, actor: c.Principal,
                  unit: UnitOfWork) -> dict[str, str]:
    require_admin(actor, "schedule tasks")
    task = unit.get(Task, cmd.task_id)
    standings = []
    initial = initial_rating(svc.policy)
    for agent_id in dict.fromkeys(cmd.candidates):
        if unit.get(Agent, agent_id).retired:
            continue
        account = unit.get(KarmaAccount, agent_id)
        karma = (sum((account.scoped.get(tag, Decimal(0)) for tag in task.tags), Decimal(0))
                 if task.tags else account.balance)
        standings.append(Standing(agent_id, karma, account.rating(GLOBAL_SCOPE, initial)[1]))
    if not standings:
        raise AgentRetiredError("every candidate agent is retired")
    scope = "#" + ", #".join(task.tags) if task.tags else "global karma"
    choice = choose(standings, svc.policy.scheduler.exploration, scope)
    assign(svc, unit, task, choice.agent_id, choice.scores, choice.reason,
           svc.provenance(cmd, task.run_id))
    return {"task_id": cmd.task_id, "agent_id": choice.agent_id}


def cast_peer_vote(svc: LedgerService, cmd: c.CastPeerVote, actor: c.Principal,
                   unit: UnitOfWork) -> dict[str, str]:
    require_self(actor, cmd.voter_id, "vote")
    task = unit.get(Task, cmd.task_id)
    if task.parent_id is None:
        raise IllegalTransitionError(f"task {cmd.task_id} has no parent task to vote on")
    parent = unit.get(Task, task.parent_id)
    if parent.assignee is None:
        raise IllegalTransitionError(f"nobody worked on task {parent.task_id} to vote on")
    at, provenance = svc.clock(), svc.provenance(cmd, task.run_id)
    value = svc.policy.peer_review.vote if cmd.up else -svc.policy.peer_review.vote
    task.cast_peer_vote(cmd.voter_id, target_id=parent.assignee,
                        target_task_id=parent.task_id, value=value, at=at,
                        provenance=provenance)
    target = unit.get(KarmaAccount, parent.assignee)
    entry = {"reason": f"peer vote by {cmd.voter_id} from task {task.task_id}",
             "task_id": parent.task_id, "scope": parent.tags, "at": at,
             "provenance": provenance.model_copy(
                 update={"causation_id": event_id(task.id, task.version)})}
    if cmd.up:
        target.mint(value, **entry)
    elif target.balance > 0:
        target.burn(min(-value, target.balance), **entry)
    return {"task_id": cmd.task_id, "target_id": parent.assignee}


def decay_karma(svc: LedgerService, cmd: c.DecayKarma, actor: c.Principal,
                unit: UnitOfWork) -> dict[str, str]:
    require_admin(actor, "decay karma")
    half_life = svc.policy.decay.half_life_days
    at, provenance = svc.clock(), svc.provenance(cmd)
    decayed = 0
    for agent_id in dict.fromkeys(cmd.agent_ids):
        account = unit.get(KarmaAccount, agent_id)
        elapsed = (cmd.as_of - account.decayed_until).total_seconds()
        factor = Decimal(str(decay_factor(half_life, max(elapsed, 0.0))))
        decayed += account.decay(factor=factor, half_life_days=half_life, as_of=cmd.as_of,
                                 quantize=quantize, at=at, provenance=provenance)
    return {"decayed_accounts": str(decayed)}


def _karma_context(unit: UnitOfWork, cmd: c.KarmaCommand) -> str | None:
    require_run(unit, cmd)
    return unit.get(Task, cmd.task_id).run_id if cmd.task_id is not None else None


def mint_karma(svc: LedgerService, cmd: c.MintKarma, actor: c.Principal,
               unit: UnitOfWork) -> dict[str, str]:
    require_admin(actor, "mint karma")
    run_id = _karma_context(unit, cmd)
    unit.get(KarmaAccount, cmd.agent_id).mint(
        cmd.amount, reason=cmd.reason, task_id=cmd.task_id, scope=tuple(cmd.scope),
        at=svc.clock(), provenance=svc.provenance(cmd, run_id))
    return {"agent_id": cmd.agent_id}


def burn_karma(svc: LedgerService, cmd: c.BurnKarma, actor: c.Principal,
               unit: UnitOfWork) -> dict[str, str]:
    require_admin(actor, "burn karma")
    run_id = _karma_context(unit, cmd)
    unit.get(KarmaAccount, cmd.agent_id).burn(
        cmd.amount, reason=cmd.reason, task_id=cmd.task_id, scope=tuple(cmd.scope),
        at=svc.clock(), provenance=svc.provenance(cmd, run_id))
    return {"agent_id": cmd.agent_id}


HANDLERS: dict[type[c.Command], Handler] = {
    c.RegisterAgent: register_agent,
    c.RetireAgent: retire_agent,
    c.StartRun: start_run,
    c.FinishRun: finish_run,
    c.IssueTask: issue_task,
    c.AssignTask: assign_task,
    c.StartTask: start_task,
    c.RecordArtifact: record_artifact,
    c.RequestInput: request_input,
    c.CompleteTask: complete_task,
    c.FailTask: fail_task,
    c.CancelTask: cancel_task,
    c.RejectTask: reject_task,
    c.ScoreReview: score_review,
    c.ScheduleTask: schedule_task,
    c.CastPeerVote: cast_peer_vote,
    c.DecayKarma: decay_karma,
    c.MintKarma: mint_karma,
    c.BurnKarma: burn_karma,
}

