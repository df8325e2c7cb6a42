"""The ledger's event recorder: eventsourcing's PostgreSQL recorder, inserting with COPY.

The library inserts a save's events as one ``INSERT ... unnest()`` of a composite-type
array, which psycopg builds in Python, value by value. This recorder keeps everything else
(the EXCLUSIVE table lock that keeps notification ids in commit order, the NOTIFY for
tailers, optimistic concurrency through the primary key) and streams the rows with one
binary COPY, after reserving their notification ids in one statement. Small saves, where
round trips cost more than encoding, still take the library's pipelined path.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from eventsourcing.persistence import InterfaceError, OperationalError, StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore
from eventsourcing.utils import retry
from psycopg import sql

COPY_THRESHOLD = 64
"""Saves of at least this many events go through COPY."""


class CopyApplicationRecorder(PostgresApplicationRecorder):
    def __init__(self, datastore: PostgresDatastore, *, events_table_name: str = "stored_events"):
        super().__init__(datastore, events_table_name=events_table_name)
        table = sql.Identifier(self.datastore.schema, self.events_table_name)
        qualified = f"{self.datastore.schema}.{self.events_table_name}"
        # Called once per row, in row order, while the table lock keeps other writers out:
        # the ids come out contiguous and ascending.
        self._reserve_ids = sql.SQL(
            "SELECT nextval(pg_get_serial_sequence({}, 'notification_id')) AS id"
            " FROM generate_series(1, %s) ORDER BY 1"
        ).format(sql.Literal(qualified))
        self._copy_events = sql.SQL(
            "COPY {} (originator_id, originator_version, topic, state, notification_id)"
            " FROM STDIN (FORMAT BINARY)"
        ).format(table)
        self._copy_types = [self.datastore.originator_id_type, "int8", "text", "bytea", "int8"]

    @retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)
    def insert_events(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        if len(stored_events) < COPY_THRESHOLD:
            # A small save is bound by round trips, and the library sends its statements
            # in one pipeline where COPY needs three exchanges.
            return super().insert_events(stored_events, **kwargs)
        with self.datastore.get_connection() as conn, conn.transaction(), conn.cursor() as curs:
            self._lock_table(curs)
            self._notify_channel(curs)
            curs.execute(self._reserve_ids, (len(stored_events),), prepare=True)
            ids = [row["id"] for row in curs.fetchall()]
            with curs.copy(self._copy_events) as copy:
                copy.set_types(self._copy_types)
                for event, notification_id in zip(stored_events, ids, strict=True):
                    copy.write_row((event.originator_id, event.originator_version, event.topic,
                                    event.state, notification_id))
        return ids
