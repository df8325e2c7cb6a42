"""Karma per agent: available balance, escrow, and what was minted, burned, decayed and
slashed. The global leaderboard reads this."""

from __future__ import annotations

from typing import Any

from psycopg import Cursor, sql

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
from projections.staging import topic, topics

OPEN_ACCOUNTS = sql.SQL(
    "INSERT INTO karma_balances (agent_id, balance, minted, burned, entries, updated_at)"
    " SELECT state->>'agent_id', 0, 0, 0, 0, (state->>'timestamp')::timestamptz"
    " FROM staged_events WHERE position > %s AND topic = {opened} ORDER BY position"
).format(opened=topic(KarmaAccountOpened))

# One UPDATE per account a batch moved, whatever the number of its events: the sums are
# exact numerics, so folding gives what one update per event would.
MOVE_BALANCES = sql.SQL(
    "UPDATE karma_balances b SET balance = b.balance + m.balance,"
    " minted = b.minted + m.minted, burned = b.burned + m.burned,"
    " escrow = b.escrow + m.escrow, decayed = b.decayed + m.decayed,"
    " slashed = b.slashed + m.slashed, entries = b.entries + m.entries,"
    " updated_at = m.last_at"
    " FROM (SELECT aggregate_key AS agent_id,"
    "  coalesce(sum(CASE WHEN topic IN {gains} THEN amount"
    "   WHEN topic IN {losses} THEN -amount END), 0) AS balance,"
    "  coalesce(sum(amount) FILTER (WHERE topic = {minted}), 0) AS minted,"
    "  coalesce(sum(amount) FILTER (WHERE topic = {burned}), 0) AS burned,"
    "  coalesce(sum(CASE WHEN topic = {staked} THEN amount"
    "   WHEN topic IN ({returned}, {slashed}) THEN -amount END), 0) AS escrow,"
    "  coalesce(sum(amount) FILTER (WHERE topic = {decayed}), 0) AS decayed,"
    "  coalesce(sum(amount) FILTER (WHERE topic = {slashed}), 0) AS slashed,"
    "  count(*) FILTER (WHERE topic IN ({minted}, {burned})) AS entries,"
    "  (array_agg(occurred_at ORDER BY position DESC))[1] AS last_at"
    "  FROM (SELECT position, aggregate_key, topic, (state->>'amount')::numeric AS amount,"
    "   (state->>'timestamp')::timestamptz AS occurred_at FROM staged_events"
    "   WHERE position > %s AND topic IN {movements}) AS e"
    "  GROUP BY 1) AS m"
    " WHERE b.agent_id = m.agent_id"
).format(
    gains=topics(KarmaMinted, StakeReturned),
    losses=topics(KarmaBurned, KarmaStaked, KarmaDecayed),
    minted=topic(KarmaMinted), burned=topic(KarmaBurned), staked=topic(KarmaStaked),
    returned=topic(StakeReturned), slashed=topic(StakeSlashed), decayed=topic(KarmaDecayed),
    movements=topics(KarmaMinted, KarmaBurned, KarmaStaked, StakeReturned, StakeSlashed,
                     KarmaDecayed))


class KarmaBalancesProjection(Projection):
    name = "karma_balances"
    tables = {"karma_balances": "agent_id"}
    origins = {"karma_balances": "karma/{agent_id}"}
    staged = True

    def apply_staged(self, curs: Cursor[Any], after: int) -> None:
        curs.execute(OPEN_ACCOUNTS, (after,), prepare=True)
        curs.execute(MOVE_BALANCES, (after,), prepare=True)
