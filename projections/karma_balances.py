"""Karma per agent: balance, minted and burned totals. The leaderboard reads this."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from psycopg import Cursor

from domain.base import DomainEvent
from domain.karma import KarmaAccountOpened, KarmaBurned, KarmaMinted
from projections.base import Projection


@dataclass
class _Movement:
    minted: Decimal = Decimal(0)
    burned: Decimal = Decimal(0)
    entries: int = 0
    last_at: datetime | None = None


class KarmaBalancesProjection(Projection):
    """Folds a batch into one row update per agent: the same result as one update per
    event (sums are exact Decimals), in a fraction of the statements."""

    name = "karma_balances"
    tables = {"karma_balances": "agent_id"}

    def apply_batch(self, curs: Cursor[Any], events: list[tuple[int, DomainEvent]]) -> None:
        opened: list[tuple[str, datetime]] = []
        moved: dict[str, _Movement] = {}
        for _, event in events:
            if isinstance(event, KarmaAccountOpened):
                opened.append((event.agent_id, event.timestamp))
            elif isinstance(event, KarmaMinted | KarmaBurned):
                movement = moved.setdefault(_agent_of(event.originator_id), _Movement())
                if isinstance(event, KarmaMinted):
                    movement.minted += event.amount
                else:
                    movement.burned += event.amount
                movement.entries += 1
                movement.last_at = event.timestamp
        if opened:
            curs.executemany(
                "INSERT INTO karma_balances (agent_id, balance, minted, burned, entries,"
                " updated_at) VALUES (%s, 0, 0, 0, 0, %s)", opened)
        if moved:
            curs.executemany(
                "UPDATE karma_balances SET balance = balance + %s - %s, minted = minted + %s,"
                " burned = burned + %s, entries = entries + %s, updated_at = %s"
                " WHERE agent_id = %s",
                [(m.minted, m.burned, m.minted, m.burned, m.entries, m.last_at, agent_id)
                 for agent_id, m in moved.items()])


def _agent_of(account_id: str) -> str:
    return account_id.split("/", 1)[1]
