"""Karma per agent: balance, minted and burned totals. The leaderboard reads this."""

from __future__ import annotations

from typing import Any

from psycopg import Cursor

from domain.karma import KarmaAccountOpened, KarmaBurned, KarmaMinted
from projections.base import Projection, handles


class KarmaBalancesProjection(Projection):
    name = "karma_balances"
    tables = {"karma_balances": "agent_id"}

    @handles(KarmaAccountOpened)
    def _karma_account_opened(self, event: KarmaAccountOpened, curs: Cursor[Any], position: int) -> None:
        curs.execute(
            "INSERT INTO karma_balances (agent_id, balance, minted, burned, entries, updated_at)"
            " VALUES (%s, 0, 0, 0, 0, %s)",
            (event.agent_id, event.timestamp),
        )

    @handles(KarmaMinted)
    def _karma_minted(self, event: KarmaMinted, curs: Cursor[Any], position: int) -> None:
        curs.execute(
            "UPDATE karma_balances SET balance = balance + %s, minted = minted + %s,"
            " entries = entries + 1, updated_at = %s WHERE agent_id = %s",
            (event.amount, event.amount, event.timestamp, _agent_of(event.originator_id)),
        )

    @handles(KarmaBurned)
    def _karma_burned(self, event: KarmaBurned, curs: Cursor[Any], position: int) -> None:
        curs.execute(
            "UPDATE karma_balances SET balance = balance - %s, burned = burned + %s,"
            " entries = entries + 1, updated_at = %s WHERE agent_id = %s",
            (event.amount, event.amount, event.timestamp, _agent_of(event.originator_id)),
        )


def _agent_of(account_id: str) -> str:
    return account_id.split("/", 1)[1]
