"""Feeds the ledger to projections, exactly once, and proves a rebuild equals the live view.

Each batch runs in one transaction that locks the projection's position row, applies the
events and moves the position: a crash anywhere rolls the whole batch back, and two runners
of the same projection take turns instead of applying an event twice.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any

import psycopg
import structlog
from psycopg import sql

from domain.base import DomainEvent
from handlers.ledger import EVENTS_TABLE, Ledger
from projections.base import Projection

log = structlog.get_logger(__name__)

DEFAULT_BATCH = 1000
REBUILD_BATCH = 5000
"""A rebuild holds its transaction anyway: bigger batches, fewer round trips."""


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

        Each batch is read and decoded once (not at all if only raw views are behind) and
        offered to every projection that is behind; each projection applies the part after
        its own position in its own transaction."""
        target = self.head() if until is None else until
        chosen = [self.get(name) for name in (names or list(self.projections))]
        while True:
            positions = self.positions()
            behind = [p for p in chosen if positions[p.name] < target]
            if not behind:
                return target
            with self._datastore.get_connection() as conn:
                stored = self.ledger.read_stored_after(
                    conn, min(positions[p.name] for p in behind), target, self.batch_size)
            if not stored:
                return target
            decoded: list[tuple[int, DomainEvent]] | None = None
            for projection in behind:
                if not projection.raw and decoded is None:
                    to_event = self.ledger.mapper.to_domain_event
                    decoded = [(position, to_event(event)) for position, event in stored]
                self._apply_after_position(projection, stored if projection.raw else decoded)

    def _apply_after_position(self, projection: Projection,
                              events: list[tuple[int, DomainEvent]]) -> None:
        with self._datastore.get_connection() as conn, conn.transaction():
            position = self._lock_position(conn, projection.name)
            fresh = [event for event in events if event[0] > position]
            if fresh:
                self._apply(conn, projection, fresh)
                self._move(conn, projection.name, fresh[-1][0])

    @staticmethod
    def _apply(conn: psycopg.Connection[Any], projection: Projection,
               events: list[tuple[int, DomainEvent]]) -> None:
        # Pipeline mode sends a batch's statements without waiting for each reply: the
        # round trips, not the statements, are what a per-event view update costs.
        with conn.pipeline() if projection.pipelined else nullcontext(), conn.cursor() as curs:
            projection.apply_batch(curs, events)

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
        """Catch the live view up, take its digest, then in one transaction drop it and replay
        the ledger from event 1 to the same position. Readers see the old view until the
        rebuilt one commits; the live runner waits on the position lock meanwhile. With
        ``keep=False`` the rebuilt view is only compared, and rolled back; ``locate`` also
        keeps a copy of the live view to name the first row and event that differ."""
        projection = self.get(name)
        self.catch_up([name])
        first: Difference | None = None
        with self._datastore.get_connection() as conn, conn.transaction(
                force_rollback=not keep):
            position = self._lock_position(conn, name)
            with conn.cursor() as curs:
                live_digest = projection.digest(curs)
                if locate:
                    for table in projection.tables:
                        curs.execute(sql.SQL(
                            "CREATE TEMP TABLE {} ON COMMIT DROP AS SELECT * FROM {}").format(
                            sql.Identifier(f"live_{table}"), sql.Identifier(table)))
                projection.clear(curs)
                after, topics = 0, projection.topics()
                read = self.ledger.read_stored_after if projection.raw else self.ledger.read_after
                while after < position:
                    events = read(conn, after, position, REBUILD_BATCH, topics)
                    if not events:
                        break
                    self._apply(conn, projection, events)
                    after = events[-1][0]
                rebuilt_digest = projection.digest(curs)
                if locate and rebuilt_digest != live_digest:
                    first = self._first_difference(curs, projection, position)
            self._move(conn, name, position)
        return RebuildReport(name, position, live_digest, rebuilt_digest, first)

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

