"""The karma economy's command handlers: stakes moving with assignments, settlement by the
policy's formula on a task's first review, scheduling, peer votes and decay."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from domain.agents import Agent
from domain.base import Provenance, event_id
from domain.economy import decay_account, settle_review
from domain.errors import AgentRetiredError, IllegalTransitionError
from domain.karma import KarmaAccount
from domain.runs import Run
from domain.scheduler import Standing, choose
from domain.tasks import Task
from handlers import commands as c
from handlers.unit_of_work import CommandContext, UnitOfWork, require_admin, require_self


def assign(
    svc: CommandContext,
    unit: UnitOfWork,
    task: Task,
    agent_id: str,
    scores: dict[str, float],
    reason: str,
    provenance: Provenance,
) -> None:
    """Assign, moving the task's stake: back to a previous assignee, from the new one."""
    unit.get(Agent, agent_id).ensure_active()
    at = svc.clock()
    previous = task.assignee
    task.assign(agent_id, scores=scores, reason=reason, at=at, provenance=provenance)
    if previous is not None:
        release_stake(
            unit,
            task,
            previous,
            returned=True,
            reason=f"task {task.task_id} was reassigned",
            at=at,
            provenance=provenance,
        )
    if task.stake_required > 0 and pays_karma(unit, task):
        unit.get(KarmaAccount, agent_id).stake(
            task.stake_required, task_id=task.task_id, at=at, provenance=provenance
        )


def pays_karma(unit: UnitOfWork, task: Task) -> bool:
    """Whether the task's work moves real karma: not in a replay of a recorded run."""
    return task.run_id is None or unit.get(Run, task.run_id).pays_karma


def release_stake(
    unit: UnitOfWork,
    task: Task,
    agent_id: str | None,
    *,
    returned: bool,
    reason: str,
    at: datetime,
    provenance: Provenance,
) -> None:
    """End the stake the agent (if any) holds on the task: returned or slashed."""
    if agent_id is None:
        return
    unit.get(KarmaAccount, agent_id).release_stake(
        task.task_id, returned=returned, reason=reason, at=at, provenance=provenance
    )


def settle(
    svc: CommandContext,
    unit: UnitOfWork,
    task: Task,
    quality: Decimal,
    at: datetime,
    provenance: Provenance,
) -> None:
    """A task's first review settles it on its assignee's account (`settle_review`). In a
    replay nothing moves: the review is a fact of the replay, its karma is not real."""
    if not pays_karma(unit, task):
        return
    account = unit.get(KarmaAccount, task.assignee)
    settle_review(svc.policy, account, task, quality, at=at, provenance=provenance)


def schedule_task(
    svc: CommandContext, cmd: c.ScheduleTask, actor: c.Principal, unit: UnitOfWork
) -> dict[str, str]:
    require_admin(actor, "schedule tasks")
    task = unit.get(Task, cmd.task_id)
    standings = []
    for agent_id in dict.fromkeys(cmd.candidates):
        if unit.get(Agent, agent_id).retired:
            continue
        account = unit.get(KarmaAccount, agent_id)
        standings.append(
            Standing(
                agent_id,
                account.karma_in(task.tags),
                account.games_in(),
                cmd.loads.get(agent_id, 0),
            )
        )
    if not standings:
        raise AgentRetiredError("every candidate agent is retired")
    scope = "#" + ", #".join(task.tags) if task.tags else "global karma"
    choice = choose(standings, svc.policy.scheduler.exploration, scope)
    assign(
        svc,
        unit,
        task,
        choice.agent_id,
        choice.scores,
        choice.reason,
        svc.provenance(cmd, task.run_id),
    )
    return {"task_id": cmd.task_id, "agent_id": choice.agent_id}


def cast_peer_vote(
    svc: CommandContext, cmd: c.CastPeerVote, actor: c.Principal, unit: UnitOfWork
) -> dict[str, str]:
    require_self(actor, cmd.voter_id, "vote")
    task = unit.get(Task, cmd.task_id)
    if task.parent_id is None:
        raise IllegalTransitionError(f"task {cmd.task_id} has no parent task to vote on")
    parent = unit.get(Task, task.parent_id)
    if parent.assignee is None:
        raise IllegalTransitionError(f"nobody worked on task {parent.task_id} to vote on")
    at, provenance = svc.clock(), svc.provenance(cmd, task.run_id)
    value = svc.policy.peer_vote(cmd.up)
    task.cast_peer_vote(
        cmd.voter_id,
        target_id=parent.assignee,
        target_task_id=parent.task_id,
        value=value,
        at=at,
        provenance=provenance,
    )
    if not pays_karma(unit, task):
        return {"task_id": cmd.task_id, "target_id": parent.assignee}
    unit.get(KarmaAccount, parent.assignee).credit(
        value,
        reason=f"peer vote by {cmd.voter_id} from task {task.task_id}",
        task_id=parent.task_id,
        scope=parent.tags,
        at=at,
        provenance=provenance.model_copy(update={"causation_id": event_id(task.id, task.version)}),
    )
    return {"task_id": cmd.task_id, "target_id": parent.assignee}


def decay_karma(
    svc: CommandContext, cmd: c.DecayKarma, actor: c.Principal, unit: UnitOfWork
) -> dict[str, str]:
    require_admin(actor, "decay karma")
    at, provenance = svc.clock(), svc.provenance(cmd)
    decayed = 0
    for agent_id in dict.fromkeys(cmd.agent_ids):
        account = unit.get(KarmaAccount, agent_id)
        decayed += decay_account(svc.policy, account, as_of=cmd.as_of, at=at, provenance=provenance)
    return {"decayed_accounts": str(decayed)}
