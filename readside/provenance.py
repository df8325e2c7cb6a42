"""Where karma came from, and what a run did: read from the entries and the audit log.

``why`` answers "why does this agent have 42.5 karma?": every entry that moved its balance,
each with the chain that caused it (the review and its score, the task and its artifacts,
or the vote, or the decay), and the formula's inputs; the entries add up to the balance.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from domain import graph, tasks
from domain.catalogue import recorded_class
from domain.graph import ConflictResolved, TripleAccepted
from domain.karma import EntryKind, signed
from domain.tasks import (
    ArtifactProduced,
    PeerVoteCast,
    ReviewScored,
    Task,
    TaskCompleted,
    TaskFailed,
    TaskIssued,
    TaskStarted,
)
from readside.queries import Queries

BEHIND_AN_ENTRY = frozenset({ArtifactProduced, TaskCompleted, TaskIssued, tasks.ModelCalled})
"""A task's events that explain the karma its review or vote moved: the work and its inputs."""
TIMED_ENDS = frozenset({TaskCompleted, TaskFailed})
"""The events that end the time a run's timeline gives a task (from its TaskStarted)."""


@dataclass
class Explanation:
    agent_id: str
    scope: str | None
    total: Decimal
    balance: Decimal
    """What the leaderboard shows (global or in the scope); equals ``total`` when
    ``complete``."""
    entries: list[dict[str, Any]] = field(default_factory=list)
    complete: bool = True
    """Whether ``entries`` are all the agent's entries (then ``total`` is the balance), or
    one page of the newest (then ``total`` is what that page added)."""


def why(queries: Queries, agent_id: str, scope: str | None = None,
        newest: int | None = None, before: int | None = None) -> Explanation:
    """Every entry behind the agent's balance with its causes; with ``newest``, only that
    many of the newest entries before position ``before``: a page, for long histories."""
    balance = queries.karma(agent_id)["balance"]
    if scope is not None:
        scoped = {row["scope"]: row["balance"] for row in queries.scopes(agent_id)["karma"]}
        balance = scoped.get(scope, Decimal(0))
    total = Decimal(0)
    explained = []
    page = None if newest is None else queries.newest_history(agent_id, newest, before)
    for entry in queries.whole_history(agent_id) if page is None else page:
        amount = _contribution(entry, scope)
        if amount is None:
            continue
        total += amount
        explained.append({**entry, "contribution": amount,
                          "chain": chain(queries, entry["caused_by"])})
    # A first page shorter than asked for holds every entry there is.
    complete = page is None or (before is None and len(page) < (newest or 0))
    return Explanation(agent_id, scope, total, balance, explained, complete)


def _contribution(entry: dict[str, Any], scope: str | None) -> Decimal | None:
    kind, amount = entry["kind"], entry["amount"]
    if scope is None:
        return signed(kind, "available", amount)
    if kind == EntryKind.DECAYED:
        scoped = entry["formula"].get("scoped", {})
        return -Decimal(scoped[scope]) if scope in scoped else None
    moved = signed(kind, "scoped", amount)
    return moved if moved and scope in entry["scope"] else None


def chain(queries: Queries, event_id: str) -> list[dict[str, Any]]:
    """The events behind a karma entry: its cause, then the task it concerns with that
    task's issue, artifacts and model calls, nearest first."""
    cause = queries.event(event_id)
    if cause is None:
        command = event_id.split(":")[1] if event_id.startswith("command:") else None
        summary = {"DecayKarma": "decay", None: "not in the audit log"}.get(
            command, f"entered by hand ({command})")
        return [{"event_id": event_id, "event_type": "command", "summary": summary}]
    steps = [_step(cause)]
    if Task.owns(cause["originator_id"]):
        related = queries.events_of(cause["originator_id"])
        for event in reversed(related):
            if recorded_class(event) in BEHIND_AN_ENTRY and event["position"] < cause["position"]:
                steps.append(_step(event))
    return steps


def _step(event: dict[str, Any]) -> dict[str, Any]:
    payload = event["payload"]
    summaries = {
        ReviewScored: lambda: (f"{payload['reviewer_id']} scored {payload['quality']}: "
                               f"{payload['rationale']}"),
        PeerVoteCast: lambda: (f"{payload['voter_id']} voted {payload['value']} on "
                               f"{payload['target_id']}'s task {payload['target_task_id']}"),
        ArtifactProduced: lambda: f"artifact {payload['name'] or payload['artifact_id']} "
                                  f"{payload['content_hash']}",
        TaskCompleted: lambda: (f"completed in {payload['duration_ms']} ms, "
                                f"{payload['tokens']} tokens, {payload['cpu_ms']} ms CPU"),
        TaskIssued: lambda: f"{payload['task_type']} issued, tags {payload['tags']}",
        TripleAccepted: lambda: (f"{payload['validator']} accepted {payload['edge']['source']}"
                                 f" {payload['edge']['relation']} "
                                 f"{payload['edge']['target']} (score {payload['score']})"),
        ConflictResolved: lambda: (f"edge {payload['superseded']['id']} superseded by "
                                   f"{payload['winner_edge_id']}: {payload['reason']}"),
        tasks.ModelCalled: lambda: _model_call(payload),
        graph.ModelCalled: lambda: _model_call(payload),
    }
    summary = summaries.get(recorded_class(event), lambda: event["event_type"])()
    return {"event_id": event["event_id"], "event_type": event["event_type"],
            "position": event["position"], "at": event["occurred_at"], "summary": summary}


def _model_call(payload: dict[str, Any]) -> str:
    # Both contexts' model calls read alike: the graph's names its agent, a task's its purpose.
    return (f"{payload.get('agent') or payload.get('purpose')} asked {payload['model']} "
            f"({payload['prompt_tokens']}+{payload['completion_tokens']} tokens, "
            f"{payload['latency_ms']} ms)")


def timeline(queries: Queries, run_id: str) -> dict[str, Any]:
    """A run's events in order, with each task's time from start to its end."""
    run = queries.run(run_id)
    events = list(queries.run_events(run_id))
    started: dict[str, Any] = {}
    durations: dict[str, float] = {}
    for event in events:
        task = event["originator_id"]
        kind = recorded_class(event)
        if kind is TaskStarted:
            started.setdefault(task, event["occurred_at"])
        elif kind in TIMED_ENDS and task in started:
            durations[task] = (event["occurred_at"] - started[task]).total_seconds()
    counts: dict[str, int] = {}
    for event in events:
        counts[event["event_type"]] = counts.get(event["event_type"], 0) + 1
    return {"run": run, "counts": counts, "task_seconds": durations, "events": events}
