"""Command handlers for runs, agents, tasks and hand-made karma entries: load, decide, save
(the unit of work saves). Stakes and settlement are the economy's (handlers.economy)."""

from __future__ import annotations

from domain.agents import Agent
from domain.base import event_id
from domain.errors import AlreadyExistsError, UnknownTagError
from domain.karma import KarmaAccount
from domain.runs import Run
from domain.tasks import Task
from handlers import commands as c
from handlers.economy import assign, release_stake, settle
from handlers.unit_of_work import (
    CommandContext,
    UnitOfWork,
    require_admin,
    require_run,
    require_self,
)


def register_agent(
    svc: CommandContext, cmd: c.RegisterAgent, actor: c.Principal, unit: UnitOfWork
) -> dict[str, str]:
    require_admin(actor, "register agents")
    require_run(unit, cmd)
    if unit.exists(Agent, cmd.agent_id):
        raise AlreadyExistsError(f"agent {cmd.agent_id!r} is already registered")
    at, provenance = svc.clock(), svc.provenance(cmd)
    agent = Agent.register(
        cmd.agent_id,
        role=cmd.role,
        persona=cmd.persona,
        skills=tuple(cmd.skills),
        at=at,
        provenance=provenance,
    )
    account = KarmaAccount.open(cmd.agent_id, at=at, provenance=provenance)
    unit.add(agent, account)
    return {"agent_id": cmd.agent_id}


def ensure_agent(
    svc: CommandContext, cmd: c.EnsureAgent, actor: c.Principal, unit: UnitOfWork
) -> dict[str, str]:
    require_admin(actor, "register agents")
    if unit.exists(Agent, cmd.agent_id):
        return {"agent_id": cmd.agent_id}
    return register_agent(svc, cmd, actor, unit)


def retire_agent(
    svc: CommandContext, cmd: c.RetireAgent, actor: c.Principal, unit: UnitOfWork
) -> dict[str, str]:
    require_admin(actor, "retire agents")
    require_run(unit, cmd)
    unit.get(Agent, cmd.agent_id).retire(cmd.reason, at=svc.clock(), provenance=svc.provenance(cmd))
    return {"agent_id": cmd.agent_id}


def start_run(
    svc: CommandContext, cmd: c.StartRun, actor: c.Principal, unit: UnitOfWork
) -> dict[str, str]:
    require_admin(actor, "start runs")
    run_id = cmd.run_id or svc.make_id()
    if cmd.run_id is not None and unit.exists(Run, run_id):
        raise AlreadyExistsError(f"run {run_id!r} already exists")
    if cmd.replay_of is not None:
        unit.get(Run, cmd.replay_of)  # an unknown source run is refused
    run = Run.start(
        run_id,
        workflow=cmd.workflow,
        config_digest=cmd.config_digest or svc.policy.digest(),
        seed=cmd.seed,
        code_version=cmd.code_version,
        at=svc.clock(),
        provenance=svc.provenance(cmd, run_id),
        replay_of=cmd.replay_of,
    )
    unit.add(run)
    return {"run_id": run_id}


def finish_run(
    svc: CommandContext, cmd: c.FinishRun, actor: c.Principal, unit: UnitOfWork
) -> dict[str, str]:
    require_admin(actor, "finish runs")
    unit.get(Run, cmd.run_id).finish(
        cmd.outcome, cmd.summary, at=svc.clock(), provenance=svc.provenance(cmd)
    )
    return {"run_id": cmd.run_id}


def issue_task(
    svc: CommandContext, cmd: c.IssueTask, actor: c.Principal, unit: UnitOfWork
) -> dict[str, str]:
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
        raise UnknownTagError(
            f"unknown tags {unknown}; the policy {svc.policy.name!r} allows {list(svc.policy.tags)}"
        )
    base = cmd.base_reward if cmd.base_reward is not None else svc.policy.base_reward(cmd.task_type)
    stake = cmd.stake_required if cmd.stake_required is not None else svc.policy.stake_for(base)
    task = Task.issue(
        task_id,
        task_type=cmd.task_type,
        payload=cmd.payload,
        tags=tuple(cmd.tags),
        base_reward=base,
        stake_required=stake,
        parent_id=cmd.parent_id,
        at=svc.clock(),
        provenance=svc.provenance(cmd),
    )
    unit.add(task)
    return {"task_id": task_id}


def assign_task(
    svc: CommandContext, cmd: c.AssignTask, actor: c.Principal, unit: UnitOfWork
) -> dict[str, str]:
    require_admin(actor, "assign tasks")
    task = unit.get(Task, cmd.task_id)
    assign(svc, unit, task, cmd.agent_id, cmd.scores, cmd.reason, svc.provenance(cmd, task.run_id))
    return {"task_id": cmd.task_id}


def start_task(
    svc: CommandContext, cmd: c.StartTask, actor: c.Principal, unit: UnitOfWork
) -> dict[str, str]:
    require_self(actor, cmd.agent_id, "start tasks")
    task = unit.get(Task, cmd.task_id)
    unit.get(Agent, cmd.agent_id).ensure_active()
    task.start(cmd.agent_id, at=svc.clock(), provenance=svc.provenance(cmd, task.run_id))
    return {"task_id": cmd.task_id}


def _assigned_task(unit: UnitOfWork, cmd: c.TaskCommand, actor: c.Principal, action: str) -> Task:
    task = unit.get(Task, cmd.task_id)
    require_self(actor, task.assignee, action)
    return task


def record_artifact(
    svc: CommandContext, cmd: c.RecordArtifact, actor: c.Principal, unit: UnitOfWork
) -> dict[str, str]:
    task = _assigned_task(unit, cmd, actor, "record artifacts of this task")
    artifact_id = svc.make_id()
    task.produce_artifact(
        artifact_id,
        name=cmd.name,
        parts=tuple(cmd.parts),
        at=svc.clock(),
        provenance=svc.provenance(cmd, task.run_id),
    )
    return {"task_id": cmd.task_id, "artifact_id": artifact_id}


def record_model_call(
    svc: CommandContext, cmd: c.RecordModelCall, actor: c.Principal, unit: UnitOfWork
) -> dict[str, str]:
    task = _assigned_task(unit, cmd, actor, "record model calls of this task")
    task.record_model_call(
        adapter=cmd.adapter, model=cmd.model, purpose=cmd.purpose, prompt=cmd.prompt,
        response=cmd.response, prompt_tokens=cmd.prompt_tokens,
        completion_tokens=cmd.completion_tokens, latency_ms=cmd.latency_ms,
        at=svc.clock(), provenance=svc.provenance(cmd, task.run_id))
    return {"task_id": cmd.task_id}


def request_input(
    svc: CommandContext, cmd: c.RequestInput, actor: c.Principal, unit: UnitOfWork
) -> dict[str, str]:
    task = _assigned_task(unit, cmd, actor, "ask for input on this task")
    task.require_input(cmd.question, at=svc.clock(), provenance=svc.provenance(cmd, task.run_id))
    return {"task_id": cmd.task_id}


def complete_task(
    svc: CommandContext, cmd: c.CompleteTask, actor: c.Principal, unit: UnitOfWork
) -> dict[str, str]:
    task = _assigned_task(unit, cmd, actor, "complete this task")
    task.complete(
        duration_ms=cmd.duration_ms,
        tokens=cmd.tokens,
        cpu_ms=cmd.cpu_ms,
        at=svc.clock(),
        provenance=svc.provenance(cmd, task.run_id),
    )
    return {"task_id": cmd.task_id}


def fail_task(
    svc: CommandContext, cmd: c.FailTask, actor: c.Principal, unit: UnitOfWork
) -> dict[str, str]:
    task = _assigned_task(unit, cmd, actor, "fail this task")
    at, provenance = svc.clock(), svc.provenance(cmd, task.run_id)
    task.fail(cmd.reason, at=at, provenance=provenance)
    release_stake(
        unit,
        task,
        task.assignee,
        returned=False,
        reason=f"task {task.task_id} failed: {cmd.reason}"[:1024],
        at=at,
        provenance=provenance,
    )
    return {"task_id": cmd.task_id}


def cancel_task(
    svc: CommandContext, cmd: c.CancelTask, actor: c.Principal, unit: UnitOfWork
) -> dict[str, str]:
    require_admin(actor, "cancel tasks")
    task = unit.get(Task, cmd.task_id)
    at, provenance = svc.clock(), svc.provenance(cmd, task.run_id)
    task.cancel(cmd.reason, at=at, provenance=provenance)
    release_stake(
        unit,
        task,
        task.assignee,
        returned=True,
        reason=f"task {task.task_id} was canceled",
        at=at,
        provenance=provenance,
    )
    return {"task_id": cmd.task_id}


def reject_task(
    svc: CommandContext, cmd: c.RejectTask, actor: c.Principal, unit: UnitOfWork
) -> dict[str, str]:
    require_self(actor, cmd.agent_id, "reject tasks")
    task = unit.get(Task, cmd.task_id)
    at, provenance = svc.clock(), svc.provenance(cmd, task.run_id)
    task.reject(cmd.agent_id, cmd.reason, at=at, provenance=provenance)
    release_stake(
        unit,
        task,
        cmd.agent_id,
        returned=True,
        reason=f"task {task.task_id} was rejected",
        at=at,
        provenance=provenance,
    )
    return {"task_id": cmd.task_id}


def score_review(
    svc: CommandContext, cmd: c.ScoreReview, actor: c.Principal, unit: UnitOfWork
) -> dict[str, str]:
    require_self(actor, cmd.reviewer_id, "review")
    task = unit.get(Task, cmd.task_id)
    unit.get(Agent, cmd.reviewer_id).ensure_active()
    first_review = not task.settled
    at = svc.clock()
    task.score_review(
        cmd.reviewer_id,
        quality=cmd.quality,
        rationale=cmd.rationale,
        at=at,
        provenance=svc.provenance(cmd, task.run_id),
    )
    if first_review and task.assignee is not None:
        settle(
            svc,
            unit,
            task,
            cmd.quality,
            at,
            svc.provenance(cmd, task.run_id).model_copy(
                update={"causation_id": event_id(task.id, task.version)}
            ),
        )
    return {"task_id": cmd.task_id}


def _karma_context(unit: UnitOfWork, cmd: c.KarmaCommand) -> str | None:
    require_run(unit, cmd)
    return unit.get(Task, cmd.task_id).run_id if cmd.task_id is not None else None


def mint_karma(
    svc: CommandContext, cmd: c.MintKarma, actor: c.Principal, unit: UnitOfWork
) -> dict[str, str]:
    require_admin(actor, "mint karma")
    run_id = _karma_context(unit, cmd)
    unit.get(KarmaAccount, cmd.agent_id).mint(
        cmd.amount,
        reason=cmd.reason,
        task_id=cmd.task_id,
        scope=tuple(cmd.scope),
        at=svc.clock(),
        provenance=svc.provenance(cmd, run_id),
    )
    return {"agent_id": cmd.agent_id}


def burn_karma(
    svc: CommandContext, cmd: c.BurnKarma, actor: c.Principal, unit: UnitOfWork
) -> dict[str, str]:
    require_admin(actor, "burn karma")
    run_id = _karma_context(unit, cmd)
    unit.get(KarmaAccount, cmd.agent_id).burn(
        cmd.amount,
        reason=cmd.reason,
        task_id=cmd.task_id,
        scope=tuple(cmd.scope),
        at=svc.clock(),
        provenance=svc.provenance(cmd, run_id),
    )
    return {"agent_id": cmd.agent_id}
