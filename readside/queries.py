"""Read-side queries over the projections' tables, shared by the CLI and the HTTP API."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from adapters.karma_sql import KINDS, kinds_adding_to, kinds_moving, labels_in, signed_amount
from domain.errors import NotFoundError
from domain.karma import TOTALS

MAX_LIMIT = 1000
SINCE_MARGIN = 1000
"""Positions before the first event recorded at a time that a ``since`` filter still reads."""
CHECKPOINT_EVERY = 10_000
CHECKPOINT_LOCK = 0x636B7074  # "ckpt"

# Karma at a position, summed from the entries: the signs are the domain's (ENTRY_EFFECTS).
BALANCES_AT = (
    "SELECT agent_id,"
    f" sum({signed_amount('available', KINDS, 'kind', otherwise='0')}) AS balance,"
    f" sum({signed_amount('escrow', KINDS, 'kind', otherwise='0')}) AS escrow,"
    + ",".join(f" sum(CASE WHEN kind IN {labels_in(KINDS, kinds_adding_to(total))}"
               f" THEN amount ELSE 0 END) AS {total}" for total in TOTALS) +
    " FROM karma_entries WHERE position > %(after)s AND position <= %(position)s"
    " GROUP BY agent_id ORDER BY agent_id")

SCOPED_AT = (
    "SELECT agent_id, scope, sum(amount) AS balance FROM ("
    f" SELECT agent_id, tag AS scope, {signed_amount('scoped', KINDS, 'kind')} AS amount"
    " FROM karma_entries, jsonb_array_elements_text(scope) AS tag"
    " WHERE position > %(after)s AND position <= %(position)s"
    f" AND kind IN {labels_in(KINDS, kinds_moving('scoped'))}"
    " UNION ALL"
    " SELECT agent_id, decayed.key, -(decayed.value)::numeric"
    " FROM karma_entries, jsonb_each_text(formula -> 'scoped') AS decayed"
    " WHERE position > %(after)s AND position <= %(position)s AND kind = 'decayed'"
    ") AS movements GROUP BY agent_id, scope ORDER BY agent_id, scope")

TASK_EARNINGS = (f"SELECT coalesce(sum({signed_amount('earns', KINDS, 'kind')}), 0) AS delta"
                 " FROM karma_entries WHERE task_id = %s")


@dataclass(frozen=True)
class EventFilter:
    run_id: str | None = None
    event_type: str | None = None
    after: int = 0
    limit: int = 100
    aggregate: str | None = None
    """An aggregate's id (``task/sum-lora``): its events only."""
    since: Any = None
    until: Any = None
    """Recorded at or after ``since`` and at or before ``until`` (datetimes)."""


class Queries:
    def __init__(self, datastore: Any) -> None:
        self._datastore = datastore

    def _all(self, query: str, params: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
        with self._datastore.get_connection() as conn:
            return conn.execute(query, params).fetchall()

    def _one(self, query: str, params: tuple[Any, ...], missing: str) -> dict[str, Any]:
        rows = self._all(query, params)
        if not rows:
            raise NotFoundError(missing)
        return rows[0]

    def agents(self) -> list[dict[str, Any]]:
        return self._all("SELECT * FROM agents ORDER BY agent_id")

    def agent(self, agent_id: str) -> dict[str, Any]:
        return self._one("SELECT * FROM agents WHERE agent_id = %s", (agent_id,),
                         f"unknown agent {agent_id!r}")

    def runs(self, limit: int = 100) -> list[dict[str, Any]]:
        return self._all("SELECT * FROM runs ORDER BY started_at DESC, run_id LIMIT %s",
                         (_bounded(limit),))

    def run(self, run_id: str) -> dict[str, Any]:
        return self._one("SELECT * FROM runs WHERE run_id = %s", (run_id,),
                         f"unknown run {run_id!r}")

    def tasks(self, run_id: str | None = None, state: str | None = None,
              assignee: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        return self._all(
            "SELECT * FROM tasks WHERE (%(run)s::text IS NULL OR run_id = %(run)s)"
            " AND (%(state)s::text IS NULL OR state = %(state)s)"
            " AND (%(assignee)s::text IS NULL OR assignee = %(assignee)s)"
            " ORDER BY issued_at, task_id LIMIT %(limit)s",
            {"run": run_id, "state": state, "assignee": assignee,  # type: ignore[arg-type]
             "limit": _bounded(limit)},
        )

    def task(self, task_id: str) -> dict[str, Any]:
        return self._one("SELECT * FROM tasks WHERE task_id = %s", (task_id,),
                         f"unknown task {task_id!r}")

    def leaderboard(self, limit: int = 100, tag: str | None = None) -> list[dict[str, Any]]:
        if tag is not None:
            return self._all(
                "SELECT rank() OVER (ORDER BY balance DESC) AS rank, agent_id, scope,"
                " balance FROM karma_scoped WHERE scope = %s"
                " ORDER BY balance DESC, agent_id LIMIT %s", (tag, _bounded(limit)))
        return self._all(
            "SELECT rank() OVER (ORDER BY balance DESC) AS rank, agent_id, balance, escrow,"
            " minted, burned, decayed, slashed, entries FROM karma_balances"
            " ORDER BY balance DESC, agent_id LIMIT %s",
            (_bounded(limit),),
        )

    def scopes(self, agent_id: str) -> dict[str, Any]:
        self.karma(agent_id)
        return {
            "karma": self._all("SELECT scope, balance FROM karma_scoped WHERE agent_id = %s"
                               " ORDER BY scope", (agent_id,)),
            "ratings": self._all("SELECT scope, rating, deviation, volatility, games"
                                 " FROM ratings WHERE agent_id = %s ORDER BY scope",
                                 (agent_id,)),
        }

    def history(self, agent_id: str, limit: int = 1000, after: int = 0
                ) -> list[dict[str, Any]]:
        """The agent's karma entries after ``after``, oldest first, at most ``limit``."""
        self.karma(agent_id)
        return self._all("SELECT * FROM karma_entries WHERE agent_id = %s AND position > %s"
                         " ORDER BY position LIMIT %s", (agent_id, after, _bounded(limit)))

    def whole_history(self, agent_id: str) -> Iterator[dict[str, Any]]:
        """Every karma entry of the agent, oldest first, a page at a time."""
        after = 0
        while page := self.history(agent_id, MAX_LIMIT, after):
            yield from page
            after = page[-1]["position"]

    def newest_history(self, agent_id: str, limit: int, before: int | None = None
                       ) -> list[dict[str, Any]]:
        """The agent's ``limit`` newest entries before position ``before``, oldest first."""
        self.karma(agent_id)
        rows = self._all("SELECT * FROM karma_entries WHERE agent_id = %s"
                         " AND (%s::bigint IS NULL OR position < %s)"
                         " ORDER BY position DESC LIMIT %s",
                         (agent_id, before, before, _bounded(limit)))
        return rows[::-1]

    def stakes(self, state: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        return self._all("SELECT * FROM stakes WHERE (%(state)s::text IS NULL OR state = %(state)s)"
                         " ORDER BY staked_at, task_id LIMIT %(limit)s",
                         {"state": state, "limit": _bounded(limit)})  # type: ignore[arg-type]

    def graph(self, graph_id: str, position: int | None = None) -> dict[str, Any]:
        """A knowledge graph as the projection holds it, or as it was at ``position``: the
        nodes and edges that had appeared by then, each edge superseded or active as of then."""
        limit = position if position is not None else 2**62
        nodes = self._all(
            "SELECT node_id AS id, label, properties FROM kg_nodes WHERE graph_id = %s"
            " AND added_position <= %s ORDER BY node_id", (graph_id, limit))
        edges = self._all(
            "SELECT edge_id AS id, source, target, relation, properties, score,"
            " CASE WHEN superseded_position <= %(at)s THEN 'superseded' ELSE 'active' END"
            " AS status,"
            " CASE WHEN superseded_position <= %(at)s THEN superseded_by END AS superseded_by"
            " FROM kg_edges WHERE graph_id = %(graph)s AND added_position <= %(at)s"
            " ORDER BY edge_id", {"graph": graph_id, "at": limit})  # type: ignore[arg-type]
        enrichments = self._all(
            "SELECT enrichment_id, goal, state, accepted, rejected, requested_at,"
            " requested_position FROM kg_enrichments WHERE graph_id = %s"
            " AND requested_position <= %s ORDER BY requested_position", (graph_id, limit))
        if not enrichments and not nodes:
            raise NotFoundError(f"unknown graph {graph_id!r}" + (
                f" at position {position}" if position is not None else ""))
        return {"graph_id": graph_id, "position": position, "nodes": nodes, "edges": edges,
                "enrichments": enrichments}

    def task_karma_delta(self, task_id: str) -> Decimal:
        """What the task's work earned or cost: rewards and penalties, votes on it, its slashed
        stake (a stake escrowed and returned is no gain)."""
        return self._all(TASK_EARNINGS, (task_id,))[0]["delta"]

    def run_karma_entries(self, run_id: str) -> list[dict[str, Any]]:
        return self._all("SELECT agent_id, kind, amount FROM karma_entries WHERE run_id = %s"
                         " ORDER BY position", (run_id,))

    def agent_ids(self) -> list[str]:
        return [row["agent_id"] for row in
                self._all("SELECT agent_id FROM karma_balances ORDER BY agent_id")]

    def karma(self, agent_id: str) -> dict[str, Any]:
        return self._one("SELECT * FROM karma_balances WHERE agent_id = %s", (agent_id,),
                         f"unknown agent {agent_id!r}")

    def events(self, selection: EventFilter) -> list[dict[str, Any]]:
        after = selection.after
        if selection.since is not None:
            # Start the scan near the first event of that time (the time index finds it)
            # rather than walk every position before it; a margin, since events saved at once
            # by concurrent writers can carry times a little out of position order.
            after = max(after, self._first_position_from(selection.since) - SINCE_MARGIN)
        return self._all(
            "SELECT * FROM audit_log WHERE position > %(after)s"
            " AND (%(run)s::text IS NULL OR run_id = %(run)s)"
            " AND (%(type)s::text IS NULL OR event_type = %(type)s)"
            " AND (%(aggregate)s::text IS NULL OR originator_id = %(aggregate)s)"
            " AND (%(since)s::timestamptz IS NULL OR occurred_at >= %(since)s)"
            " AND (%(until)s::timestamptz IS NULL OR occurred_at <= %(until)s)"
            " ORDER BY position LIMIT %(limit)s",
            {"after": after, "run": selection.run_id,  # type: ignore[arg-type]
             "type": selection.event_type, "aggregate": selection.aggregate,
             "since": selection.since, "until": selection.until,
             "limit": _bounded(selection.limit)},
        )

    def _first_position_from(self, moment: Any) -> int:
        rows = self._all("SELECT position FROM audit_log WHERE occurred_at >= %s"
                         " ORDER BY occurred_at, position LIMIT 1", (moment,))
        return rows[0]["position"] if rows else 2**62

    def run_events(self, run_id: str, until: int | None = None) -> Iterator[dict[str, Any]]:
        """A run's events in ledger order (up to position ``until``), a page at a time."""
        after = 0
        while page := self.events(EventFilter(run_id=run_id, after=after, limit=MAX_LIMIT)):
            for event in page:
                if until is not None and event["position"] > until:
                    return
                yield event
            after = page[-1]["position"]

    def event(self, event_id: str) -> dict[str, Any] | None:
        rows = self._all("SELECT * FROM audit_log WHERE event_id = %s", (event_id,))
        return rows[0] if rows else None

    def events_of(self, originator_id: str) -> list[dict[str, Any]]:
        return self._all("SELECT * FROM audit_log WHERE originator_id = %s ORDER BY position",
                         (originator_id,))

    def balances_at(self, position: int) -> list[dict[str, Any]]:
        """Every account's karma as it was at a ledger position: the nearest checkpoint at
        or below it plus the entries after it."""
        base = self.ensure_checkpoint(position)
        totals = {row.pop("agent_id"): row for row in self._all(
            "SELECT agent_id, balance, escrow, minted, burned, decayed, slashed"
            " FROM karma_checkpoints WHERE position = %s", (base,))}
        for row in self._all(BALANCES_AT, {"after": base, "position": position}):  # type: ignore[arg-type]
            agent = row.pop("agent_id")
            if agent in totals:
                totals[agent] = {k: totals[agent][k] + row[k] for k in row}
            else:
                totals[agent] = row
        return [{"agent_id": agent, **row} for agent, row in sorted(totals.items())]

    def scoped_at(self, position: int) -> list[dict[str, Any]]:
        base = self.ensure_checkpoint(position)
        totals = {(r["agent_id"], r["scope"]): r["balance"] for r in self._all(
            "SELECT agent_id, scope, balance FROM scoped_checkpoints WHERE position = %s",
            (base,))}
        for row in self._all(SCOPED_AT, {"after": base, "position": position}):  # type: ignore[arg-type]
            key = (row["agent_id"], row["scope"])
            totals[key] = totals.get(key, 0) + row["balance"]
        return [{"agent_id": agent, "scope": scope, "balance": balance}
                for (agent, scope), balance in sorted(totals.items())]

    def ensure_checkpoint(self, position: int) -> int:
        """The highest checkpoint at or below ``position`` that the entries view already
        covers, building any missing ones on the way (each from the one before)."""
        covered = self._all("SELECT position FROM projection_positions WHERE name = %s",
                            ("reputation",))
        limit = min(position, covered[0]["position"] if covered else 0)
        target = limit - limit % CHECKPOINT_EVERY
        built = self._all("SELECT coalesce(max(position), 0) AS position"
                          " FROM checkpoint_positions WHERE position <= %s",
                          (target,))[0]["position"]
        while built < target:
            built = self._build_checkpoint(built, built + CHECKPOINT_EVERY)
        return target

    def _build_checkpoint(self, previous: int, position: int) -> int:
        with self._datastore.get_connection() as conn, conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (CHECKPOINT_LOCK,))
            if conn.execute("SELECT 1 FROM checkpoint_positions WHERE position = %s",
                            (position,)).fetchone():
                return position
            conn.execute(
                "INSERT INTO karma_checkpoints SELECT %(position)s, agent_id, sum(balance),"
                " sum(escrow), sum(minted), sum(burned), sum(decayed), sum(slashed) FROM ("
                " SELECT agent_id, balance, escrow, minted, burned, decayed, slashed"
                " FROM karma_checkpoints WHERE position = %(previous)s"
                " UNION ALL SELECT * FROM (" + BALANCES_AT + ") AS recent"
                ") AS movements GROUP BY agent_id",
                {"position": position, "previous": previous, "after": previous})
            conn.execute(
                "INSERT INTO scoped_checkpoints SELECT %(position)s, agent_id, scope,"
                " sum(balance) FROM (SELECT agent_id, scope, balance FROM scoped_checkpoints"
                " WHERE position = %(previous)s UNION ALL SELECT * FROM (" + SCOPED_AT +
                ") AS recent) AS movements GROUP BY agent_id, scope",
                {"position": position, "previous": previous, "after": previous})
            conn.execute("INSERT INTO checkpoint_positions VALUES (%s)", (position,))
        return position

    def position_at(self, moment: Any) -> int | None:
        """The last ledger position recorded at or before ``moment`` (None: before all)."""
        return self._all("SELECT max(position) AS position FROM audit_log"
                         " WHERE occurred_at <= %s", (moment,))[0]["position"]

    def first_event_time(self) -> Any:
        return self._all("SELECT min(occurred_at) AS first FROM audit_log")[0]["first"]

    def version_at(self, originator_id: str, moment: Any) -> int | None:
        return self._all("SELECT max(originator_version) AS version FROM audit_log"
                         " WHERE originator_id = %s AND occurred_at <= %s",
                         (originator_id, moment))[0]["version"]

    def event_types(self) -> list[str]:
        # A skip scan down the (event_type, position) index: one probe per type, where
        # DISTINCT would read every row of a million-event log.
        return [row["event_type"] for row in self._all(
            "WITH RECURSIVE types AS ("
            " SELECT min(event_type) AS event_type FROM audit_log"
            " UNION ALL SELECT (SELECT min(event_type) FROM audit_log"
            "  WHERE event_type > types.event_type) FROM types"
            "  WHERE types.event_type IS NOT NULL)"
            " SELECT event_type FROM types WHERE event_type IS NOT NULL")]


def _bounded(limit: int) -> int:
    if not 1 <= limit <= MAX_LIMIT:
        raise ValueError(f"limit must be between 1 and {MAX_LIMIT}, not {limit}")
    return limit
