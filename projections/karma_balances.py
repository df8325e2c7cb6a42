"""Karma per agent: available balance, escrow, and what was minted, burned, decayed and
slashed. The global leaderboard reads this."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from psycopg import Cursor

from domain.base import DomainEvent, key_of
from domain.karma import (
    KarmaAccountOpened,
    KarmaBurned,
    KarmaDecayed,
    KarmaMinted,
    KarmaStaked,
    StakeReturned,
    StakeSlashed,
)
from projections.base import Projection

COLUMNS = ("balance", "minted", "burned", "escrow", "decayed", "slashed")


@dataclass
class _Movement:
    change: dict[str, Decimal]
    entries: int = 0
    last_at: datetime | None = None

    def add(self, column: str, amount: Decimal) -> None:
        self.change[column] += amount


def _changes(event: DomainEvent) -> dict[str, Decimal]:
    """How an event moves each column of its account's row."""
    amount = getattr(event, "amount", Decimal(0))
    match event:
        case KarmaMinted():
            return {"balance": amount, "minted": amount}
        case KarmaBurned():
            return {"balance": -amount, "burned": amount}
        case KarmaStaked():
            return {"balance": -amount, "escrow": amount}
        case StakeReturned():
            return {"balance": amount, "escrow": -amount}
        case StakeSlashed():
            return {"escrow": -amount, "slashed": amount}
        case KarmaDecayed():
            return {"balance": -amount, "decayed": amount}
    return {}


class KarmaBalancesProjection(Projection):
    """Folds a batch into one row update per agent: the same result as one update per
    event (sums are exact Decimals), in a fraction of the statements."""

    name = "karma_balances"
    tables = {"karma_balances": "agent_id"}
    origins = {"karma_balances": "karma/{agent_id}"}
    reads = (KarmaAccountOpened, KarmaMinted, KarmaBurned, KarmaStaked, StakeReturned,
             StakeSlashed, KarmaDecayed)

    def apply_batch(self, curs: Cursor[Any], events: list[tuple[int, DomainEvent]]) -> None:
        opened: list[tuple[str, datetime]] = []
        moved: dict[str, _Movement] = {}
        for _, event in events:
            if isinstance(event, KarmaAccountOpened):
                opened.append((event.agent_id, event.timestamp))
                continue
            changes = _changes(event)
            if not changes:
                continue
            movement = moved.setdefault(key_of(event.originator_id),
                                        _Movement({column: Decimal(0) for column in COLUMNS}))
            for column, amount in changes.items():
                movement.add(column, amount)
            movement.entries += isinstance(event, KarmaMinted | KarmaBurned)
            movement.last_at = event.timestamp
        if opened:
            curs.executemany(
                "INSERT INTO karma_balances (agent_id, balance, minted, burned, entries,"
                " updated_at) VALUES (%s, 0, 0, 0, 0, %s)", opened)
        if moved:
            curs.executemany(
                "UPDATE karma_balances SET balance = balance + %s, minted = minted + %s,"
                " burned = burned + %s, escrow = escrow + %s, decayed = decayed + %s,"
                " slashed = slashed + %s, entries = entries + %s, updated_at = %s"
                " WHERE agent_id = %s",
                [(*(m.change[column] for column in COLUMNS), m.entries, m.last_at, agent_id)
                 for agent_id, m in moved.items()])

