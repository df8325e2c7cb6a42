"""Scoped reputation: each agent's karma per tag, its Glicko-2 rating per scope, its stakes
in escrow, and every karma entry with the formula and the event that caused it."""

from __future__ import annotations

from typing import Any

import orjson
from psycopg import Cursor

from domain.base import key_of
from domain.karma import (
    KarmaBurned,
    KarmaDecayed,
    KarmaMinted,
    KarmaStaked,
    RatingUpdated,
    StakeReturned,
    StakeSlashed,
)
from projections.base import Projection, handles

AVAILABLE_SIGN = {"minted": 1, "burned": -1, "decayed": -1, "staked": -1, "stake_returned": 1,
                  "stake_slashed": 0}
"""How each kind of entry moves the available balance (a slash takes from escrow, which the
stake already took from the available balance)."""


def _json(value: Any) -> str:
    return orjson.dumps(value, default=str, option=orjson.OPT_SORT_KEYS).decode()


class ReputationProjection(Projection):
    name = "reputation"
    tables = {"karma_scoped": "agent_id, scope", "karma_entries": "position",
              "stakes": "task_id, agent_id, staked_at", "ratings": "agent_id, scope"}

    def _entry(self, curs: Cursor[Any], position: int, kind: str, event: Any,
               scope: tuple[str, ...] = (), formula: dict[str, Any] | None = None,
               task_id: str | None = None, reason: str = "") -> None:
        curs.execute(
            "INSERT INTO karma_entries (position, agent_id, kind, amount, task_id, scope,"
            " reason, formula, run_id, caused_by, occurred_at)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            (position, key_of(event.originator_id), kind, event.amount, task_id,
             _json(list(scope)), reason, _json(formula or {}), event.provenance.run_id,
             event.provenance.causation_id, event.timestamp))

    def _scoped(self, curs: Cursor[Any], agent_id: str, scope: tuple[str, ...],
                amount: Any) -> None:
        for tag in scope:
            curs.execute(
                "INSERT INTO karma_scoped (agent_id, scope, balance) VALUES (%s, %s, %s)"
                " ON CONFLICT (agent_id, scope) DO UPDATE"
                " SET balance = karma_scoped.balance + EXCLUDED.balance",
                (agent_id, tag, amount))

    @handles(KarmaMinted)
    def minted(self, event: KarmaMinted, curs: Cursor[Any], position: int) -> None:
        self._entry(curs, position, "minted", event, event.scope, event.formula,
                    event.task_id, event.reason)
        self._scoped(curs, key_of(event.originator_id), event.scope, event.amount)

    @handles(KarmaBurned)
    def burned(self, event: KarmaBurned, curs: Cursor[Any], position: int) -> None:
        self._entry(curs, position, "burned", event, event.scope, event.formula,
                    event.task_id, event.reason)
        self._scoped(curs, key_of(event.originator_id), event.scope, -event.amount)

    @handles(KarmaDecayed)
    def decayed(self, event: KarmaDecayed, curs: Cursor[Any], position: int) -> None:
        self._entry(curs, position, "decayed", event,
                    formula={"half_life_days": event.half_life_days,
                             "since": event.since.isoformat(), "as_of": event.as_of.isoformat(),
                             "scoped": {tag: str(amount) for tag, amount in event.scoped.items()}},
                    reason="decay")
        agent_id = key_of(event.originator_id)
        for tag, amount in event.scoped.items():
            self._scoped(curs, agent_id, (tag,), -amount)

    @handles(KarmaStaked)
    def staked(self, event: KarmaStaked, curs: Cursor[Any], position: int) -> None:
        self._entry(curs, position, "staked", event, task_id=event.task_id, reason="stake")
        curs.execute(
            "INSERT INTO stakes (task_id, agent_id, amount, state, staked_at)"
            " VALUES (%s, %s, %s, 'escrowed', %s)",
            (event.task_id, key_of(event.originator_id), event.amount, event.timestamp))

    def _settle_stake(self, curs: Cursor[Any], event: Any, state: str) -> None:
        curs.execute(
            "UPDATE stakes SET state = %s, reason = %s, settled_at = %s"
            " WHERE task_id = %s AND agent_id = %s AND state = 'escrowed'",
            (state, event.reason, event.timestamp, event.task_id,
             key_of(event.originator_id)))

    @handles(StakeReturned)
    def stake_returned(self, event: StakeReturned, curs: Cursor[Any], position: int) -> None:
        self._entry(curs, position, "stake_returned", event, task_id=event.task_id,
                    reason=event.reason)
        self._settle_stake(curs, event, "returned")

    @handles(StakeSlashed)
    def stake_slashed(self, event: StakeSlashed, curs: Cursor[Any], position: int) -> None:
        self._entry(curs, position, "stake_slashed", event, task_id=event.task_id,
                    reason=event.reason)
        self._settle_stake(curs, event, "slashed")

    @handles(RatingUpdated)
    def rating_updated(self, event: RatingUpdated, curs: Cursor[Any], position: int) -> None:
        curs.execute(
            "INSERT INTO ratings (agent_id, scope, rating, deviation, volatility, games)"
            " VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (agent_id, scope) DO UPDATE SET"
            " rating = EXCLUDED.rating, deviation = EXCLUDED.deviation,"
            " volatility = EXCLUDED.volatility, games = EXCLUDED.games",
            (key_of(event.originator_id), event.scope, event.rating, event.deviation,
             event.volatility, event.games))
