"""Counterfactual replay: what a run's agents would have earned under another policy.

The run's recorded facts — which tasks were issued, who did them, how long they took, what
the reviewers scored, how peers voted, what failed — are turned back into the commands
that produced them and executed by the same command handlers, on an in-memory ledger
(eventsourcing's own POPO persistence) with the other policy and the recorded clock. No
model is called and nothing is written to the real ledger. Replayed with the run's own
policy, the result equals what the ledger paid.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from adapters.event_store import Ledger
from domain.base import AggregateEvent, key_of
from domain.catalogue import recorded_class
from domain.economy import EconomyPolicy
from domain.errors import DomainError, NotFoundError
from domain.karma import KarmaAccount, KarmaBurned, KarmaMinted, signed
from domain.runs import RunStarted
from domain.tasks import (
    PeerVoteCast,
    ReviewScored,
    TaskAssigned,
    TaskCanceled,
    TaskCompleted,
    TaskFailed,
    TaskInputRequired,
    TaskIssued,
    TaskRejected,
    TaskStarted,
)
from handlers import commands as c
from handlers.service import LedgerService
from readside.queries import Queries


@dataclass(frozen=True)
class Standing:
    agent_id: str
    earned: Decimal


@dataclass(frozen=True)
class Comparison:
    run_id: str
    policy_digest: str
    recorded: list[Standing]
    counterfactual: list[Standing]
    refused: int
    """Recorded commands that the other policy refused."""


def recorded_earnings(queries: Queries, run_id: str) -> dict[str, Decimal]:
    totals: dict[str, Decimal] = {}
    for row in queries.run_karma_entries(run_id):
        earned = signed(row["kind"], "earns", row["amount"])
        if earned:
            totals[row["agent_id"]] = totals.get(row["agent_id"], Decimal(0)) + earned
    return totals


def available_before(queries: Queries, agent_id: str, position: int) -> Decimal:
    """What the agent could spend (on stakes) when the run began."""
    return sum((signed(row["kind"], "available", row["amount"])
                for row in queries.history(agent_id) if row["position"] < position),
               Decimal(0))


def _ranked(totals: dict[str, Decimal]) -> list[Standing]:
    return [Standing(agent, amount) for agent, amount in
            sorted(totals.items(), key=lambda item: (-item[1], item[0]))]


def replay(queries: Queries, run_id: str, policy: EconomyPolicy) -> Comparison:
    queries.run(run_id)  # an unknown run is a clear error, not an empty table
    facts = list(queries.run_events(run_id))
    if not facts:
        raise NotFoundError(f"run {run_id!r} has no events")
    clock = _RecordedClock()
    ledger = Ledger(env={"PERSISTENCE_MODULE": "eventsourcing.popo",
                         "AGGREGATE_CACHE_MAXSIZE": ""})
    service = LedgerService(ledger, policy, clock=clock)
    starting: dict[str, Decimal] = {}
    refused = 0
    for fact in facts:
        clock.now = fact["occurred_at"]
        for command in _commands(fact, run_id):
            for agent in _agents_named(command):
                if agent not in starting:
                    starting[agent] = _open_account(service, queries, agent, facts[0]["position"])
            try:
                service.execute(command)
            except DomainError:
                # Another policy can refuse what the real one allowed (a stake the agent
                # cannot afford there); the replay goes on without it, and says so.
                refused += 1
    totals = {}
    for agent, seeded in starting.items():
        account: KarmaAccount = ledger.repository.get(KarmaAccount.id_for(agent))
        totals[agent] = account.earned - seeded
    ledger.close()
    recorded = recorded_earnings(queries, run_id)
    everyone = set(totals) | set(recorded)
    return Comparison(run_id, policy.digest(),
                      _ranked({a: recorded.get(a, Decimal(0)) for a in everyone}),
                      _ranked({a: totals.get(a, Decimal(0)) for a in everyone}), refused)


def _open_account(service: LedgerService, queries: Queries, agent_id: str,
                  run_start: int) -> Decimal:
    """Register the agent in the replay with the karma it could spend when the run began."""
    service.execute(c.RegisterAgent(agent_id=agent_id, role="replayed"))
    try:
        seed = available_before(queries, agent_id, run_start)
    except NotFoundError:
        seed = Decimal(0)
    if seed > 0:
        service.execute(c.MintKarma(agent_id=agent_id, amount=seed,
                                    reason="available when the run began"))
    return max(seed, Decimal(0))


class _RecordedClock:
    now: datetime

    def __call__(self) -> datetime:
        return self.now


Builder = Callable[[dict[str, Any], dict[str, Any], str], "c.Command | None"]
"""Turns a fact (its audit-log row, its payload, the run) back into the command behind it."""


def _commands(fact: dict[str, Any], run_id: str) -> list[c.Command]:
    """The command that recorded a fact, as far as karma is concerned."""
    build = RECORDED_BY.get(recorded_class(fact))
    command = None if build is None else build(fact, fact["payload"], run_id)
    return [] if command is None else [command]


def _task_id(fact: dict[str, Any]) -> str:
    return key_of(fact["originator_id"])


def _hand_entry(command: type[c.MintKarma | c.BurnKarma]) -> Builder:
    """A karma entry made by hand (not by a review or a vote) is a fact of the run; one a
    review or a vote caused comes back by replaying that."""

    def build(fact: dict[str, Any], data: dict[str, Any], _: str) -> c.Command | None:
        if not fact["causation_id"].startswith("command:"):
            return None
        return command(agent_id=key_of(fact["originator_id"]), amount=Decimal(data["amount"]),
                       reason=data["reason"], task_id=data.get("task_id"),
                       scope=data.get("scope", []))

    return build


RECORDED_BY: dict[type[AggregateEvent], Builder] = {
    RunStarted: lambda fact, data, run_id: c.StartRun(
        run_id=run_id, workflow=data["workflow"], seed=data["seed"]),
    TaskIssued: lambda fact, data, run_id: c.IssueTask(
        run_id=run_id, task_id=_task_id(fact), task_type=data["task_type"],
        payload=data["payload"], tags=data["tags"], parent_id=data.get("parent_id")),
    TaskAssigned: lambda fact, data, _: c.AssignTask(
        task_id=_task_id(fact), agent_id=data["agent_id"]),
    TaskStarted: lambda fact, data, _: c.StartTask(
        task_id=_task_id(fact), agent_id=data["agent_id"]),
    TaskInputRequired: lambda fact, data, _: c.RequestInput(
        task_id=_task_id(fact), question=data["question"]),
    TaskCompleted: lambda fact, data, _: c.CompleteTask(
        task_id=_task_id(fact), duration_ms=data["duration_ms"], tokens=data["tokens"],
        cpu_ms=data["cpu_ms"]),
    TaskFailed: lambda fact, data, _: c.FailTask(task_id=_task_id(fact), reason=data["reason"]),
    TaskCanceled: lambda fact, data, _: c.CancelTask(
        task_id=_task_id(fact), reason=data["reason"]),
    TaskRejected: lambda fact, data, _: c.RejectTask(
        task_id=_task_id(fact), agent_id=data["agent_id"], reason=data["reason"]),
    ReviewScored: lambda fact, data, _: c.ScoreReview(
        task_id=_task_id(fact), reviewer_id=data["reviewer_id"],
        quality=Decimal(data["quality"]), rationale=data["rationale"]),
    PeerVoteCast: lambda fact, data, _: c.CastPeerVote(
        task_id=_task_id(fact), voter_id=data["voter_id"], up=Decimal(data["value"]) > 0),
    KarmaMinted: _hand_entry(c.MintKarma),
    KarmaBurned: _hand_entry(c.BurnKarma),
}
"""The facts a counterfactual replays, each with the command that recorded it; any other
fact (a model call, an artifact, a stake) follows from these or moves no karma."""


def _agents_named(command: c.Command) -> list[str]:
    return [value for field in ("agent_id", "reviewer_id", "voter_id")
            if isinstance(value := getattr(command, field, None), str)]
