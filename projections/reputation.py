"""Scoped reputation: each agent's karma per tag, its Glicko-2 rating per scope, its stakes
in escrow, and every karma entry with the formula and the event that caused it."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import orjson
from psycopg import Cursor

from domain.base import DomainEvent, key_of
from domain.karma import (
    KarmaBurned,
    KarmaDecayed,
    KarmaMinted,
    KarmaStaked,
    RatingUpdated,
    StakeReturned,
    StakeSlashed,
)
from projections.base import Projection

AVAILABLE_SIGN = {"minted": 1, "burned": -1, "decayed": -1, "staked": -1, "stake_returned": 1,
                  "stake_slashed": 0}
"""How each kind of entry moves the available balance (a slash takes from escrow, which the
stake already took from the available balance)."""


def _json(value: Any) -> str:
    return orjson.dumps(value, default=str, option=orjson.OPT_SORT_KEYS).decode()


class ReputationProjection(Projection):
    """Folds a batch: karma entries go in with one COPY, each (agent, tag) balance and each
    rating gets one statement per batch however many events moved it. Per-event upserts of
    the same hot rows left a rebuild crawling through their dead versions."""

    name = "reputation"
    tables = {"karma_scoped": "agent_id, scope", "karma_entries": "position",
              "stakes": "task_id, agent_id, staked_at", "ratings": "agent_id, scope"}
    origins = {"karma_scoped": "karma/{agent_id}", "stakes": "karma/{agent_id}",
               "ratings": "karma/{agent_id}"}
    pipelined = False  # COPY cannot run in pipeline mode; executemany pipelines by itself
    reads = (KarmaMinted, KarmaBurned, KarmaDecayed, KarmaStaked, StakeReturned, StakeSlashed,
             RatingUpdated)

    def apply_batch(self, curs: Cursor[Any], events: list[tuple[int, DomainEvent]]) -> None:
        entries: list[tuple[Any, ...]] = []
        scoped: dict[tuple[str, str], Decimal] = {}
        ratings: dict[tuple[str, str], tuple[Any, ...]] = {}
        stakes: list[tuple[str, tuple[Any, ...]]] = []
        for position, event in events:
            agent_id = key_of(event.originator_id)
            if isinstance(event, RatingUpdated):
                ratings[(agent_id, event.scope)] = (
                    agent_id, event.scope, event.rating, event.deviation, event.volatility,
                    event.games)
                continue
            entry = _entry(position, event)
            if entry is None:
                continue
            entries.append(entry)
            for tag, amount in _scoped_changes(event):
                scoped[(agent_id, tag)] = scoped.get((agent_id, tag), Decimal(0)) + amount
            if isinstance(event, KarmaStaked):
                stakes.append((STAKE_INSERT, (event.task_id, agent_id, event.amount,
                                              event.timestamp)))
            elif isinstance(event, StakeReturned | StakeSlashed):
                state = "returned" if isinstance(event, StakeReturned) else "slashed"
                stakes.append((STAKE_SETTLE, (state, event.reason, event.timestamp,
                                              event.task_id, agent_id)))
        if entries:
            with curs.copy(
                "COPY karma_entries (position, agent_id, kind, amount, task_id, scope, reason,"
                " formula, run_id, caused_by, occurred_at) FROM STDIN"
            ) as copy:
                for entry in entries:
                    copy.write_row(entry)
        if scoped:
            curs.executemany(
                "INSERT INTO karma_scoped (agent_id, scope, balance) VALUES (%s, %s, %s)"
                " ON CONFLICT (agent_id, scope) DO UPDATE"
                " SET balance = karma_scoped.balance + EXCLUDED.balance",
                [(agent, tag, amount) for (agent, tag), amount in scoped.items()])
        for statement, params in stakes:  # in order: a stake may be settled in its batch
            curs.execute(statement, params)
        if ratings:
            curs.executemany(
                "INSERT INTO ratings (agent_id, scope, rating, deviation, volatility, games)"
                " VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (agent_id, scope) DO UPDATE SET"
                " rating = EXCLUDED.rating, deviation = EXCLUDED.deviation,"
                " volatility = EXCLUDED.volatility, games = EXCLUDED.games",
                list(ratings.values()))


STAKE_INSERT = ("INSERT INTO stakes (task_id, agent_id, amount, state, staked_at)"
                " VALUES (%s, %s, %s, 'escrowed', %s)")
STAKE_SETTLE = ("UPDATE stakes SET state = %s, reason = %s, settled_at = %s"
                " WHERE task_id = %s AND agent_id = %s AND state = 'escrowed'")


def _entry(position: int, event: DomainEvent) -> tuple[Any, ...] | None:
    """The karma_entries row of a karma movement (None for other events)."""
    match event:
        case KarmaMinted() | KarmaBurned():
            kind = "minted" if isinstance(event, KarmaMinted) else "burned"
            scope, formula, task_id, reason = (event.scope, event.formula, event.task_id,
                                               event.reason)
        case KarmaDecayed():
            kind, scope, task_id, reason = "decayed", (), None, "decay"
            formula = {"half_life_days": event.half_life_days,
                       "since": event.since.isoformat(), "as_of": event.as_of.isoformat(),
                       "scoped": {tag: str(amount) for tag, amount in event.scoped.items()}}
        case KarmaStaked():
            kind, scope, formula, task_id, reason = "staked", (), {}, event.task_id, "stake"
        case StakeReturned() | StakeSlashed():
            kind = "stake_returned" if isinstance(event, StakeReturned) else "stake_slashed"
            scope, formula, task_id, reason = (), {}, event.task_id, event.reason
        case _:
            return None
    return (position, key_of(event.originator_id), kind, event.amount, task_id,
            _json(list(scope)), reason, _json(formula or {}), event.provenance.run_id,
            event.provenance.causation_id, event.timestamp)


def _scoped_changes(event: DomainEvent) -> list[tuple[str, Decimal]]:
    match event:
        case KarmaMinted():
            return [(tag, event.amount) for tag in event.scope]
        case KarmaBurned():
            return [(tag, -event.amount) for tag in event.scope]
        case KarmaDecayed():
            return [(tag, -amount) for tag, amount in event.scoped.items()]
    return []
