"""The karma economy's command handlers: stakes moving with assignments, settlement by the
policy's formula on a task's first review, scheduling, peer votes and decay."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from domain.agents import Agent
from domain.base import Provenance, event_id
from domain.economy import EconomyPolicy, decay_factor, review_game, reward
from domain.errors import AgentRetiredError, IllegalTransitionError
from domain.karma import GLOBAL_SCOPE, KarmaAccount
from domain.rating import Rating
from domain.rating import update as update_rating
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
    if agent_id is None:
        return
    account = unit.get(KarmaAccount, agent_id)
    if account.stake_on(task.task_id) is None:
        return
    if returned:
        account.return_stake(task.task_id, reason, at=at, provenance=provenance)
    else:
        account.slash_stake(task.task_id, reason, at=at, provenance=provenance)


def settle(
    svc: CommandContext,
    unit: UnitOfWork,
    task: Task,
    quality: Decimal,
    at: datetime,
    provenance: Provenance,
) -> None:
    """A task's first review pays its assignee by the policy's formula, returns or slashes
    its stake, and counts as a rated game in the global scope and each of its tags. In a
    replay nothing moves: the review is a fact of the replay, its karma is not real."""
    if not pays_karma(unit, task):
        return
    policy = svc.policy
    account = unit.get(KarmaAccount, task.assignee)
    initial = initial_rating(policy)
    standing, _ = account.rating(GLOBAL_SCOPE, initial)
    duration_ms, tokens, cpu_ms = task.usage or (0, 0, 0)
    breakdown = reward(
        policy, task.base_reward, quality, duration_ms, tokens, cpu_ms, standing.deviation
    )
    entry = {
        "reason": f"review of task {task.task_id}",
        "task_id": task.task_id,
        "scope": task.tags,
        "formula": breakdown.model_dump(),
        "at": at,
        "provenance": provenance,
    }
    if task.task_id in account.stakes:
        succeeded = quality >= policy.reward.success_quality
        outcome = "succeeded" if succeeded else "failed review"
        release_stake(
            unit,
            task,
            task.assignee,
            returned=succeeded,
            reason=f"task {task.task_id} {outcome} (quality {quality})",
            at=at,
            provenance=provenance,
        )
    if breakdown.delta > 0:
        account.mint(breakdown.delta, **entry)
    elif breakdown.delta < 0:
        account.burn_at_most(-breakdown.delta, **entry)
    game = review_game(policy, quality)
    for scope in (GLOBAL_SCOPE, *task.tags):
        current, played = account.rating(scope, initial)
        account.rate(
            scope,
            update_rating(current, [game], policy.volatility.tau),
            played + 1,
            task_id=task.task_id,
            at=at,
            provenance=provenance,
        )


def initial_rating(policy: EconomyPolicy) -> Rating:
    return Rating(1500.0, policy.volatility.initial_deviation, policy.volatility.initial_volatility)


def schedule_task(
    svc: CommandContext, cmd: c.ScheduleTask, actor: c.Principal, unit: UnitOfWork
) -> dict[str, str]:
    require_admin(actor, "schedule tasks")
    task = unit.get(Task, cmd.task_id)
    standings = []
    initial = initial_rating(svc.policy)
    for agent_id in dict.fromkeys(cmd.candidates):
        if unit.get(Agent, agent_id).retired:
            continue
        account = unit.get(KarmaAccount, agent_id)
        karma = (
            sum((account.scoped.get(tag, Decimal(0)) for tag in task.tags), Decimal(0))
            if task.tags
            else account.balance
        )
        standings.append(Standing(agent_id, karma, account.rating(GLOBAL_SCOPE, initial)[1],
                                  cmd.loads.get(agent_id, 0)))
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
    value = svc.policy.peer_review.vote if cmd.up else -svc.policy.peer_review.vote
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
    target = unit.get(KarmaAccount, parent.assignee)
    entry = {
        "reason": f"peer vote by {cmd.voter_id} from task {task.task_id}",
        "task_id": parent.task_id,
        "scope": parent.tags,
        "at": at,
        "provenance": provenance.model_copy(
            update={"causation_id": event_id(task.id, task.version)}
        ),
    }
    if cmd.up:
        target.mint(value, **entry)
    else:
        target.burn_at_most(-value, **entry)
    return {"task_id": cmd.task_id, "target_id": parent.assignee}


def decay_karma(
    svc: CommandContext, cmd: c.DecayKarma, actor: c.Principal, unit: UnitOfWork
) -> dict[str, str]:
    require_admin(actor, "decay karma")
    half_life = svc.policy.decay.half_life_days
    at, provenance = svc.clock(), svc.provenance(cmd)
    decayed = 0
    for agent_id in dict.fromkeys(cmd.agent_ids):
        account = unit.get(KarmaAccount, agent_id)
        elapsed = (cmd.as_of - account.decayed_until).total_seconds()
        factor = Decimal(str(decay_factor(half_life, max(elapsed, 0.0))))
        decayed += account.decay(
            factor=factor,
            half_life_days=half_life,
            as_of=cmd.as_of,
            at=at,
            provenance=provenance,
        )
    return {"decayed_accounts": str(decayed)}
