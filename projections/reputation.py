"""Scoped reputation: each agent's karma per tag, its Glicko-2 rating per scope, its stakes
in escrow, and every karma entry with the formula and the event that caused it."""

from __future__ import annotations

from typing import Any

from eventsourcing.utils import get_topic
from psycopg import Cursor, sql

from adapters.karma_sql import TOPICS, kind_of, kinds_moving, labels_in, signed_amount
from domain.karma import (
    KarmaAccount,
    KarmaBurned,
    KarmaDecayed,
    KarmaMinted,
    KarmaStaked,
    RatingUpdated,
    StakeReturned,
    StakeSlashed,
)
from projections.base import Projection
from projections.staging import topic, topics

SCOPED_KINDS = kinds_moving("scoped")
"""Entries that move the karma of each tag in their scope (decay says per tag itself)."""

ADD_ENTRIES = sql.SQL(
    "INSERT INTO karma_entries (position, agent_id, kind, amount, task_id, scope, reason,"
    " formula, run_id, caused_by, occurred_at)"
    " SELECT position, aggregate_key, {kind},"
    "  (state->>'amount')::numeric, state->>'task_id',"
    "  CASE WHEN topic IN {scoped} THEN state->'scope' ELSE '[]' END,"
    "  CASE topic WHEN {decayed} THEN 'decay' WHEN {staked} THEN 'stake'"
    "   ELSE state->>'reason' END,"
    # Instants as Python's isoformat() spells them (+00:00, where the stored JSON has Z),
    # as these entries have always been written.
    "  CASE WHEN topic = {decayed} THEN jsonb_build_object("
    "    'half_life_days', state->'half_life_days',"
    "    'since', regexp_replace(state->>'since', 'Z$', '+00:00'),"
    "    'as_of', regexp_replace(state->>'as_of', 'Z$', '+00:00'), 'scoped', state->'scoped')"
    "   WHEN topic IN ({minted}, {burned}) THEN state->'formula' ELSE '{{}}' END,"
    "  state->'provenance'->>'run_id', state->'provenance'->>'causation_id',"
    "  (state->>'timestamp')::timestamptz"
    " FROM staged_events WHERE position > %s AND topic IN {entries} ORDER BY position"
).format(kind=sql.SQL(kind_of("topic")), scoped=sql.SQL(labels_in(TOPICS, SCOPED_KINDS)),
         minted=topic(KarmaMinted), burned=topic(KarmaBurned), decayed=topic(KarmaDecayed),
         staked=topic(KarmaStaked), entries=sql.SQL(labels_in(TOPICS)))

# Minting adds to each tag of the entry's scope, burning takes from each, decay takes what
# it says per tag; one upsert per (agent, tag) a batch moved.
MOVE_SCOPED = sql.SQL(
    "INSERT INTO karma_scoped (agent_id, scope, balance)"
    " SELECT agent_id, tag, sum(amount) FROM ("
    "  SELECT aggregate_key AS agent_id, tag,"
    "   {amount} AS amount"
    "  FROM staged_events, jsonb_array_elements_text(state->'scope') AS tag"
    "  WHERE position > %s AND topic IN {scoped}"
    "  UNION ALL"
    "  SELECT aggregate_key, scoped.key, -scoped.value::numeric"
    "  FROM staged_events, jsonb_each_text(state->'scoped') AS scoped"
    "  WHERE position > %s AND topic = {decayed}) AS moves"
    " GROUP BY agent_id, tag"
    " ON CONFLICT (agent_id, scope) DO UPDATE"
    " SET balance = karma_scoped.balance + EXCLUDED.balance"
).format(amount=sql.SQL(signed_amount("scoped", TOPICS, "topic", "(state->>'amount')::numeric")),
         scoped=sql.SQL(labels_in(TOPICS, SCOPED_KINDS)), decayed=topic(KarmaDecayed))

STAKE_EVENTS = sql.SQL(
    "SELECT topic, state->>'task_id' AS task_id, aggregate_key AS agent_id,"
    " (state->>'amount')::numeric AS amount, state->>'reason' AS reason,"
    " (state->>'timestamp')::timestamptz AS occurred_at"
    " FROM staged_events WHERE position > %s AND topic IN {stakes} ORDER BY position"
).format(stakes=topics(KarmaStaked, StakeReturned, StakeSlashed))
SETTLED = {get_topic(StakeReturned): "returned", get_topic(StakeSlashed): "slashed"}
STAKE_INSERT = ("INSERT INTO stakes (task_id, agent_id, amount, state, staked_at)"
                " VALUES (%s, %s, %s, 'escrowed', %s)")
STAKE_SETTLE = ("UPDATE stakes SET state = %s, reason = %s, settled_at = %s"
                " WHERE task_id = %s AND agent_id = %s AND state = 'escrowed'")

# Only the last rating of each (agent, scope) in a batch counts.
SET_RATINGS = sql.SQL(
    "INSERT INTO ratings (agent_id, scope, rating, deviation, volatility, games)"
    " SELECT DISTINCT ON (1, 2) aggregate_key, state->>'scope',"
    "  (state->>'rating')::float8, (state->>'deviation')::float8,"
    "  (state->>'volatility')::float8, (state->>'games')::int"
    " FROM staged_events WHERE position > %s AND topic = {rated}"
    " ORDER BY 1, 2, position DESC"
    " ON CONFLICT (agent_id, scope) DO UPDATE SET rating = EXCLUDED.rating,"
    " deviation = EXCLUDED.deviation, volatility = EXCLUDED.volatility,"
    " games = EXCLUDED.games"
).format(rated=topic(RatingUpdated))


class ReputationProjection(Projection):
    name = "reputation"
    tables = {"karma_scoped": "agent_id, scope", "karma_entries": "position",
              "stakes": "task_id, agent_id, staked_at", "ratings": "agent_id, scope"}
    origins = dict.fromkeys(("karma_scoped", "stakes", "ratings"),
                            KarmaAccount.id_for("{agent_id}"))
    staged = True

    def apply_staged(self, curs: Cursor[Any], after: int) -> None:
        curs.execute(ADD_ENTRIES, (after,), prepare=True)
        curs.execute(MOVE_SCOPED, (after, after), prepare=True)
        # In ledger order, one by one (they are few): a stake may be settled in its batch.
        for stake in curs.execute(STAKE_EVENTS, (after,), prepare=True).fetchall():
            if stake["topic"] in SETTLED:
                curs.execute(STAKE_SETTLE, (SETTLED[stake["topic"]], stake["reason"],
                                            stake["occurred_at"], stake["task_id"],
                                            stake["agent_id"]))
            else:
                curs.execute(STAKE_INSERT, (stake["task_id"], stake["agent_id"],
                                            stake["amount"], stake["occurred_at"]))
        curs.execute(SET_RATINGS, (after,), prepare=True)
