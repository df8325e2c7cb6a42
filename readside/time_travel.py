"""Time travel: a run's read models as they were at a ledger position or an instant, the
difference between two points, and any aggregate at a version or a time.

Karma state comes from the karma entries view (every movement with its position), summed up
to the position in SQL; the run's task board is folded from its events in the audit log.
Both only read what was true at that position: nothing later leaks in.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from adapters.event_store import Ledger
from domain.base import key_of
from domain.catalogue import recorded_class
from domain.errors import NotFoundError
from domain.tasks import (
    STATE_AFTER,
    ArtifactProduced,
    ReviewScored,
    Task,
    TaskAssigned,
    TaskIssued,
)
from readside.queries import Queries


class TimeTravelError(ValueError):
    """A point in time the ledger cannot show (past the head, before the first event)."""


@dataclass
class RunState:
    run_id: str
    position: int
    at: datetime | None
    balances: dict[str, dict[str, Decimal]] = field(default_factory=dict)
    scoped: dict[str, dict[str, Decimal]] = field(default_factory=dict)
    tasks: dict[str, dict[str, Any]] = field(default_factory=dict)


def require_position(position: int, head: int) -> None:
    if not 0 <= position <= head:
        raise TimeTravelError(f"position {position} is past the ledger's head ({head})")


class TimeMachine:
    def __init__(self, queries: Queries, ledger: Ledger) -> None:
        self.queries = queries
        self.ledger = ledger

    def head(self) -> int:
        return self.ledger.recorder.max_notification_id() or 0

    def position_at(self, moment: datetime) -> int:
        """The last ledger position recorded at or before ``moment``."""
        position = self.queries.position_at(moment)
        if position is None:
            raise TimeTravelError(f"{moment.isoformat()} is before the first event "
                                  f"({self.queries.first_event_time()})")
        return position

    def state(self, run_id: str, position: int) -> RunState:
        self.queries.run(run_id)
        require_position(position, self.head())
        state = RunState(run_id, position, None)
        for row in self.queries.balances_at(position):
            state.balances[row.pop("agent_id")] = row
        for row in self.queries.scoped_at(position):
            state.scoped.setdefault(row["agent_id"], {})[row["scope"]] = row["balance"]
        for event in self.queries.run_events(run_id, until=position):
            state.at = event["occurred_at"]
            _fold_task(state.tasks, event)
        return state

    def diff(self, run_id: str, start: int, end: int) -> dict[str, Any]:
        before, after = self.state(run_id, start), self.state(run_id, end)
        return {"from": start, "to": end,
                "balances": _changes(before.balances, after.balances),
                "scoped": _changes(before.scoped, after.scoped),
                "tasks": _changes(before.tasks, after.tasks)}

    def aggregate(self, aggregate_id: str, version: int | None = None,
                  moment: datetime | None = None) -> dict[str, Any]:
        if moment is not None:
            version = self.queries.version_at(aggregate_id, moment)
            if version is None:
                raise TimeTravelError(f"{aggregate_id} did not exist at {moment.isoformat()}")
        try:
            aggregate = self.ledger.repository.get(aggregate_id, version=version)
        except Exception as error:  # eventsourcing raises its own not-found error
            raise NotFoundError(f"unknown aggregate {aggregate_id!r}") from error
        if version is not None and aggregate.version != version:
            raise TimeTravelError(f"{aggregate_id} has no version {version} "
                                  f"(it is at {aggregate.version})")
        state = {key.lstrip("_"): value for key, value in vars(aggregate).items()
                 if key != "_pending_events"}
        return {"id": aggregate.id, "version": aggregate.version, "state": state}


def _fold_task(tasks: dict[str, dict[str, Any]], event: dict[str, Any]) -> None:
    if not Task.owns(event["originator_id"]):
        return
    task_id = key_of(event["originator_id"])
    kind, payload = recorded_class(event), event["payload"]
    task = tasks.setdefault(task_id, {"state": None, "assignee": None, "artifacts": 0,
                                      "reviews": 0, "task_type": None})
    if kind in STATE_AFTER:
        task["state"] = STATE_AFTER[kind]
    if kind is TaskIssued:
        task["task_type"] = payload["task_type"]
    elif kind is TaskAssigned:
        task["assignee"] = payload["agent_id"]
    elif kind is ArtifactProduced:
        task["artifacts"] += 1
    elif kind is ReviewScored:
        task["reviews"] += 1


def _changes(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    return {key: {"from": before.get(key), "to": after.get(key)}
            for key in sorted(set(before) | set(after)) if before.get(key) != after.get(key)}
