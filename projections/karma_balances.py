"""Karma per agent: available balance, escrow, and what was minted, burned, decayed and
slashed. The global leaderboard reads this."""

from __future__ import annotations

from typing import Any

from psycopg import Cursor, sql

from adapters.karma_sql import TOPICS, kinds_adding_to, labels_in, signed_amount
from domain.karma import TOTALS, EntryKind, KarmaAccount, KarmaAccountOpened
from projections.base import Projection
from projections.staging import topic

OPEN_ACCOUNTS = sql.SQL(
    "INSERT INTO karma_balances (agent_id, balance, minted, burned, entries, updated_at)"
    " SELECT state->>'agent_id', 0, 0, 0, 0, (state->>'timestamp')::timestamptz"
    " FROM staged_events WHERE position > %s AND topic = {opened} ORDER BY position"
).format(opened=topic(KarmaAccountOpened))

LEADERBOARD_ENTRIES = [EntryKind.MINTED, EntryKind.BURNED]
"""What the leaderboard counts as an agent's entries: what it was paid or charged."""


# One UPDATE per account a batch moved, whatever the number of its events: the sums are
# exact numerics, so folding gives what one update per event would. The signs are the
# domain's (ENTRY_EFFECTS).
MOVE_BALANCES = sql.SQL(
    "UPDATE karma_balances b SET balance = b.balance + m.balance,"
    " minted = b.minted + m.minted, burned = b.burned + m.burned,"
    " escrow = b.escrow + m.escrow, decayed = b.decayed + m.decayed,"
    " slashed = b.slashed + m.slashed, entries = b.entries + m.entries,"
    " updated_at = m.last_at"
    " FROM (SELECT aggregate_key AS agent_id,"
    f"  coalesce(sum({signed_amount('available', TOPICS, 'topic')}), 0) AS balance,"
    + "".join(f"  coalesce(sum(amount) FILTER (WHERE topic IN"
              f" {labels_in(TOPICS, kinds_adding_to(total))}), 0) AS {total},"
              for total in TOTALS) +
    f"  coalesce(sum({signed_amount('escrow', TOPICS, 'topic')}), 0) AS escrow,"
    f"  count(*) FILTER (WHERE topic IN {labels_in(TOPICS, LEADERBOARD_ENTRIES)}) AS entries,"
    "  (array_agg(occurred_at ORDER BY position DESC))[1] AS last_at"
    "  FROM (SELECT position, aggregate_key, topic, (state->>'amount')::numeric AS amount,"
    "   (state->>'timestamp')::timestamptz AS occurred_at FROM staged_events"
    f"   WHERE position > %s AND topic IN {labels_in(TOPICS)}) AS e"
    "  GROUP BY 1) AS m"
    " WHERE b.agent_id = m.agent_id")
class KarmaBalancesProjection(Projection):
    name = "karma_balances"
    tables = {"karma_balances": "agent_id"}
    origins = {"karma_balances": KarmaAccount.id_for("{agent_id}")}
    staged = True

    def apply_staged(self, curs: Cursor[Any], after: int) -> None:
        curs.execute(OPEN_ACCOUNTS, (after,), prepare=True)
        curs.execute(MOVE_BALANCES, (after,), prepare=True)
