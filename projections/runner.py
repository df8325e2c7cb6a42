"""Feeds the ledger to projections, exactly once, and proves a rebuild equals the live view.

Each batch runs in one transaction that locks the projection's position row, applies the
events and moves the position: a crash anywhere rolls the whole batch back, and two runners
of the same projection take turns instead of applying an event twice.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import psycopg
import structlog
from psycopg import sql

from adapters.event_store import EVENTS_TABLE, Ledger
from domain.base import DomainEvent
from projections.base import Projection
from projections.staging import stage

log = structlog.get_logger(__name__)

DEFAULT_BATCH = 1000
REBUILD_BATCH = 20_000
"""A rebuild holds its transaction anyway: bigger windows, fewer statements."""
ROOM_TO_SORT = "SET LOCAL work_mem = '256MB'"
"""For a rebuild's transactions: folding and hashing whole views sorts a lot, in memory
rather than in temporary files."""


class UnknownProjectionError(LookupError):
    pass


@dataclass(frozen=True)
class RebuildReport:
    name: str
    position: int
    live_digest: str
    rebuilt_digest: str

    first_difference: Difference | None = None
    """With ``rebuild(..., locate=True)`` and a difference: the earliest differing row."""

    @property
    def identical(self) -> bool:
        return self.live_digest == self.rebuilt_digest


@dataclass(frozen=True)
class Difference:
    """A row the live view and its replay disagree on, and the ledger event behind it: the
    one at the row's own position, or the last event of the aggregate the row belongs to."""

    table: str
    live: str | None
    replayed: str | None
    position: int | None
    event: str | None


@dataclass(frozen=True)
class _LiveTable:
    name: sql.Identifier
    key: list[str]
    """Its primary key's columns (none: the table has no primary key)."""


class ProjectionRunner:
    def __init__(
        self, ledger: Ledger, projections: Sequence[Projection], batch_size: int = DEFAULT_BATCH
    ) -> None:
        self.ledger = ledger
        self.projections = {projection.name: projection for projection in projections}
        self.batch_size = batch_size
        self._datastore = ledger.recorder.datastore  # type: ignore[attr-defined]

    def get(self, name: str) -> Projection:
        try:
            return self.projections[name]
        except KeyError:
            known = ", ".join(sorted(self.projections))
            raise UnknownProjectionError(f"no projection named {name!r}; known: {known}") from None

    def head(self) -> int:
        return self.ledger.recorder.max_notification_id() or 0

    def positions(self) -> dict[str, int]:
        with self._datastore.get_connection() as conn:
            rows = conn.execute("SELECT name, position FROM projection_positions").fetchall()
        found = {row["name"]: row["position"] for row in rows}
        return {name: found.get(name, 0) for name in self.projections}

    def catch_up(self, names: Iterable[str] | None = None, until: int | None = None) -> int:
        """Apply every event up to ``until`` (default: the head now) to the named projections
        (default: all). Returns the position they reached.

        The ledger is read in windows of ``batch_size`` positions from the position of the
        furthest behind: staged once for the SQL views and decoded once (only the events they
        read) for the others; each projection applies the part after its own position in its
        own transaction."""
        target = self.head() if until is None else until
        chosen = [self.get(name) for name in (names or list(self.projections))]
        while True:
            positions = self.positions()
            behind = [p for p in chosen if positions[p.name] < target]
            if not behind:
                return target
            after = min(positions[p.name] for p in behind)
            window_end = min(target, after + self.batch_size)
            with self._datastore.get_connection() as conn:
                batch = self._read(conn, behind, after, window_end)
                for projection in behind:
                    with conn.transaction():
                        position = self._lock_position(conn, projection.name)
                        if position < window_end:
                            self._apply(conn, projection, batch, position)
                            self._move(conn, projection.name, window_end)

    def _read(self, conn: psycopg.Connection[Any], projections: Sequence[Projection],
              after: int, until: int) -> list[tuple[int, DomainEvent]]:
        """Stage the window (after, until] if an SQL view is among ``projections``, and
        return its events that the others read, decoded."""
        if any(p.staged for p in projections):
            stage(conn, self.ledger, after, until)
        decoding = [p for p in projections if not p.staged]
        if not decoding:
            return []
        wanted = [p.topics() for p in decoding]
        topics = None if None in wanted else sorted({t for some in wanted for t in some or ()})
        return self.ledger.read_after(conn, after, until, until - after, topics)

    @staticmethod
    def _apply(conn: psycopg.Connection[Any], projection: Projection,
               batch: list[tuple[int, DomainEvent]], after: int) -> None:
        """Apply the batch's events after position ``after`` to the view."""
        if projection.staged:
            with conn.cursor() as curs:
                projection.apply_staged(curs, after)
            return
        fresh = [event for event in batch if event[0] > after]
        if not fresh:
            return
        # Pipeline mode sends a batch's statements without waiting for each reply: the
        # round trips, not the statements, are what a per-event view update costs.
        with conn.pipeline(), conn.cursor() as curs:
            projection.apply_batch(curs, fresh)

    @staticmethod
    def _lock_position(conn: psycopg.Connection[Any], name: str) -> int:
        conn.execute(
            "INSERT INTO projection_positions (name) VALUES (%s) ON CONFLICT DO NOTHING", (name,)
        )
        row = conn.execute(
            "SELECT position FROM projection_positions WHERE name = %s FOR UPDATE", (name,)
        ).fetchone()
        return row["position"]

    @staticmethod
    def _move(conn: psycopg.Connection[Any], name: str, position: int) -> None:
        conn.execute(
            "UPDATE projection_positions SET position = %s, updated_at = now() WHERE name = %s",
            (position, name),
        )

    def wait_for(self, position: int, names: Iterable[str] | None = None,
                 timeout: float = 5.0) -> bool:
        """Wait until the projections have applied ``position`` (read-your-writes)."""
        wanted = list(names or self.projections)
        deadline = time.monotonic() + timeout
        while True:
            positions = self.positions()
            if all(positions[name] >= position for name in wanted):
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.01)

    def digest(self, name: str) -> tuple[int, str]:
        """The view's digest and the position it reflects, read in one snapshot."""
        projection = self.get(name)
        with self._datastore.get_connection() as conn, conn.transaction():
            conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            position = self._read_position(conn, name)
            with conn.cursor() as curs:
                return position, projection.digest(curs)

    @staticmethod
    def _read_position(conn: psycopg.Connection[Any], name: str) -> int:
        row = conn.execute(
            "SELECT position FROM projection_positions WHERE name = %s", (name,)
        ).fetchone()
        return row["position"] if row else 0

    def rebuild(self, name: str, keep: bool = True, locate: bool = False) -> RebuildReport:
        """``rebuild_all`` for one view."""
        return self.rebuild_all([name], keep, locate)[0]

    def rebuild_all(self, names: Iterable[str] | None = None, keep: bool = True,
                    locate: bool = False) -> list[RebuildReport]:
        """Catch the views up, then replay the ledger from event 1 into fresh copies of them
        and compare digests (``_rebuild_together``). Views marked ``replays_alone`` replay on
        connections of their own, in parallel with the rest: PostgreSQL does most of the
        work, and one connection keeps one core busy."""
        chosen = [self.get(name) for name in (names or list(self.projections))]
        self.catch_up([p.name for p in chosen])
        groups = [[p] for p in chosen if p.replays_alone]
        if rest := [p for p in chosen if not p.replays_alone]:
            groups.append(rest)
        if len(groups) == 1:
            reports = self._rebuild_together(groups[0], keep, locate)
        else:
            with ThreadPoolExecutor(len(groups), thread_name_prefix="rebuild") as pool:
                done = pool.map(lambda group: self._rebuild_together(group, keep, locate),
                                groups)
                reports = [report for group in done for report in group]
        order = {p.name: index for index, p in enumerate(chosen)}
        return sorted(reports, key=lambda report: order[report.name])

    def _rebuild_together(self, projections: list[Projection], keep: bool,
                          locate: bool) -> list[RebuildReport]:
        """In one transaction, take the views' digests, replay the ledger from event 1 to
        each view's position in one pass for all of them, into temporary tables that shadow
        the live ones (keyed like them; secondary indexes are for readers), and take their
        digests again. With ``keep`` copy the replayed rows over the live ones, otherwise
        roll back. Readers see the old view until the transaction commits; the live runner
        waits on the position locks meanwhile. ``locate`` also keeps a copy of each live view
        to name the first row and event that differ."""
        with self._datastore.get_connection() as conn, conn.transaction(
                force_rollback=not keep):
            positions = {p.name: self._lock_position(conn, p.name) for p in projections}
            conn.execute(ROOM_TO_SORT)
            # The position locks hold the live views still: another connection hashes them
            # while this one replays.
            with ThreadPoolExecutor(1, thread_name_prefix="live-digest") as hashing:
                live_digests = hashing.submit(self._digests, projections)
                with conn.cursor() as curs:
                    live_tables = {table: self._shadow(curs, table, keep_live=locate)
                                   for p in projections for table in p.tables}
                self._replay(conn, projections, positions)
                with conn.cursor() as curs:
                    rebuilt_digests = {p.name: p.digest(curs) for p in projections}
                live = live_digests.result()
            reports = []
            with conn.cursor() as curs:
                for projection in projections:
                    rebuilt = rebuilt_digests[projection.name]
                    first = None
                    if locate and rebuilt != live[projection.name]:
                        first = self._first_difference(curs, projection,
                                                       positions[projection.name])
                    reports.append(RebuildReport(projection.name, positions[projection.name],
                                                 live[projection.name], rebuilt, first))
                if keep:  # a view whose digest is its replay's is its replay already
                    for projection in projections:
                        if rebuilt_digests[projection.name] != live[projection.name]:
                            for table in projection.tables:
                                self._replace_live(curs, table, live_tables[table])
        return reports

    def _digests(self, projections: list[Projection]) -> dict[str, str]:
        with self._datastore.get_connection() as conn, conn.transaction(), \
                conn.cursor() as curs:
            curs.execute(ROOM_TO_SORT)
            return {p.name: p.digest(curs) for p in projections}

    def _replay(self, conn: psycopg.Connection[Any], projections: list[Projection],
                positions: dict[str, int]) -> None:
        """Apply the ledger from event 1 to each projection's own position, in windows that
        never straddle one of those positions."""
        ends = sorted(set(positions.values()))
        after = 0
        while after < ends[-1]:
            window_end = min(after + REBUILD_BATCH, next(end for end in ends if end > after))
            due = [p for p in projections if positions[p.name] >= window_end]
            batch = self._read(conn, due, after, window_end)
            for projection in due:
                self._apply(conn, projection, batch, after)
            after = window_end

    @staticmethod
    def _shadow(curs: psycopg.Cursor[Any], table: str, keep_live: bool) -> _LiveTable:
        """Create an empty temporary table that shadows ``table`` until the transaction ends
        (temporary tables come first in the search path), keyed like it."""
        schema, key = curs.execute(
            "SELECT n.nspname AS schema, array(SELECT a.attname FROM pg_index i"
            "  JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)"
            "  WHERE i.indrelid = c.oid AND i.indisprimary"
            "  ORDER BY array_position(i.indkey::int2[], a.attnum)) AS key"
            " FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE c.oid = to_regclass(%s)", (table,)).fetchone().values()
        live = _LiveTable(sql.Identifier(schema, table), key)
        if keep_live:
            curs.execute(sql.SQL("CREATE TEMP TABLE {} ON COMMIT DROP AS SELECT * FROM {}")
                         .format(sql.Identifier(f"live_{table}"), live.name))
        curs.execute(sql.SQL("CREATE TEMP TABLE {} (LIKE {} INCLUDING DEFAULTS) ON COMMIT DROP")
                     .format(sql.Identifier(table), live.name))
        if key:
            curs.execute(sql.SQL("ALTER TABLE pg_temp.{} ADD PRIMARY KEY ({})").format(
                sql.Identifier(table), sql.SQL(", ").join(map(sql.Identifier, key))))
        return live

    @staticmethod
    def _replace_live(curs: psycopg.Cursor[Any], table: str, live: _LiveTable) -> None:
        """Make the live table hold the replayed rows. Keyed, only the rows that differ are
        deleted and inserted: every row written again means an entry in each of the live
        table's indexes."""
        replayed = sql.SQL("pg_temp.{}").format(sql.Identifier(table))
        if not live.key:
            curs.execute(sql.SQL("DELETE FROM {}").format(live.name))
            curs.execute(sql.SQL("INSERT INTO {} SELECT * FROM {}").format(live.name, replayed))
            return
        key = sql.SQL(", ").join(map(sql.Identifier, live.key))
        curs.execute(sql.SQL(
            "DELETE FROM {live} WHERE ({key}) IN (SELECT {key} FROM"
            " (SELECT * FROM {live} EXCEPT ALL SELECT * FROM {replayed}) AS stale)").format(
            live=live.name, key=key, replayed=replayed))
        curs.execute(sql.SQL(
            "INSERT INTO {live} SELECT * FROM {replayed} EXCEPT ALL SELECT * FROM {live}").format(
            live=live.name, replayed=replayed))

    def _first_difference(self, curs: psycopg.Cursor[Any], projection: Projection,
                          head: int) -> Difference | None:
        found: list[Difference] = []
        for table in projection.tables:
            live, rebuilt = sql.Identifier(f"live_{table}"), sql.Identifier(table)
            rows = curs.execute(sql.SQL(
                "(SELECT 'live' AS side, to_jsonb(d) AS data, d::text AS row FROM"
                " (SELECT * FROM {live} EXCEPT ALL SELECT * FROM {rebuilt}) d)"
                " UNION ALL (SELECT 'replayed', to_jsonb(d), d::text FROM"
                " (SELECT * FROM {rebuilt} EXCEPT ALL SELECT * FROM {live}) d) LIMIT 1000"
            ).format(live=live, rebuilt=rebuilt)).fetchall()
            for row in rows:
                position = self._position_of(curs, projection, table, row["data"], head)
                found.append(Difference(
                    table, row["row"] if row["side"] == "live" else None,
                    row["row"] if row["side"] == "replayed" else None, position,
                    self._describe(curs, position)))
        if not found:
            return None
        first = min(found, key=lambda d: (d.position is None, d.position or 0, d.table))
        # The other side of the same row, if it has one (a changed row differs on both).
        twin = next((d for d in found if d is not first and d.table == first.table
                     and d.position == first.position and (d.live is None) != (first.live
                                                                                is None)), None)
        if twin is None:
            return first
        return Difference(first.table, first.live or twin.live, first.replayed or twin.replayed,
                          first.position, first.event)

    @staticmethod
    def _position_of(curs: psycopg.Cursor[Any], projection: Projection, table: str,
                     data: dict[str, Any], head: int) -> int | None:
        if isinstance(data.get("position"), int):
            return data["position"]
        template = projection.origins.get(table)
        if template is None:
            return None
        try:
            originator = template.format(**data)
        except KeyError:
            return None
        row = curs.execute(sql.SQL(
            "SELECT max(notification_id) AS position FROM {}"
            " WHERE originator_id = %s AND notification_id <= %s").format(
            sql.Identifier(EVENTS_TABLE)), (originator, head)).fetchone()
        return row["position"] if row else None

    @staticmethod
    def _describe(curs: psycopg.Cursor[Any], position: int | None) -> str | None:
        if position is None:
            return None
        row = curs.execute(sql.SQL(
            "SELECT originator_id, originator_version, topic FROM {}"
            " WHERE notification_id = %s").format(sql.Identifier(EVENTS_TABLE)),
            (position,)).fetchone()
        if row is None:
            return None
        return (f"{row['originator_id']}@{row['originator_version']} "
                f"({row['topic'].rsplit(':', 1)[-1]})")

    def follow(self, stop: threading.Event, idle_wait: float = 1.0) -> None:
        """Keep every projection at the head until ``stop`` is set. Wakes on the ledger's
        NOTIFY, and polls every ``idle_wait`` seconds in case a notification was missed."""
        backoff = 0.5
        listener = None
        while not stop.is_set():
            try:
                if listener is None:
                    listener = self.ledger.listen()
                self.catch_up()
                backoff = 0.5
                self._wait_for_news(listener, stop, idle_wait)
            except Exception:  # noqa: BLE001 - a failed batch is retried, never dropped
                log.exception("projection batch failed; retrying", backoff_s=backoff)
                if listener is not None:
                    listener.close()
                    listener = None
                stop.wait(backoff)
                backoff = min(backoff * 2, 30.0)
        if listener is not None:
            listener.close()

    @staticmethod
    def _wait_for_news(listener: psycopg.Connection[Any], stop: threading.Event,
                       idle_wait: float) -> None:
        """Return on a NOTIFY, on ``stop``, or after ``idle_wait`` seconds."""
        deadline = time.monotonic() + idle_wait
        while not stop.is_set() and time.monotonic() < deadline:
            if any(True for _ in listener.notifies(timeout=0.2, stop_after=1)):
                return

