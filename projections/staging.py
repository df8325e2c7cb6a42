"""A window of the ledger staged inside PostgreSQL, for views that fold events in SQL.

PostgreSQL parses each event's JSON once into ``staged_events`` (with the key of the event's
aggregate: ``karma/reader-1`` -> ``reader-1``) and the views read it there,
so a replay never ships the ledger to Python and back. Only events stored with an older
schema version than their class's (or of a class not loaded) go through Python: decoded,
upcast and dumped again, so every staged state has the shape the class has now. That a
version names one shape is held by ``tests/unit/event_schemas.json``: a class whose fields
change without a new ``class_version`` fails the tests.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import orjson
import psycopg
from eventsourcing.persistence import StoredEvent
from eventsourcing.utils import get_topic
from psycopg import sql

from adapters.event_store import EVENTS_TABLE, Ledger
from domain.base import DomainEvent, event_classes, key_of

STAGED_TABLE = "staged_events"

_CREATE = sql.SQL(
    "CREATE TEMP TABLE IF NOT EXISTS {} (position bigint NOT NULL,"
    " originator_id text NOT NULL, originator_version bigint NOT NULL,"
    " aggregate_key text NOT NULL, topic text NOT NULL,"
    " context text NOT NULL, event_type text NOT NULL, state jsonb NOT NULL)"
).format(sql.Identifier(STAGED_TABLE))

# The subquery is a fence (OFFSET 0): inlined, the JSON cast was evaluated once per use.
_STAGE_CURRENT = sql.SQL(
    "INSERT INTO {staged} SELECT e.notification_id, e.originator_id, e.originator_version,"
    " substr(e.originator_id, strpos(e.originator_id, '/') + 1), e.topic, k.context,"
    " k.event_type, e.state"
    " FROM (SELECT notification_id, originator_id, originator_version, topic,"
    "  convert_from(state, 'UTF8')::jsonb AS state FROM {events}"
    "  WHERE notification_id > %s AND notification_id <= %s OFFSET 0) AS e"
    " JOIN jsonb_to_recordset(%s::jsonb) AS k(topic text, version int, context text,"
    " event_type text) ON k.topic = e.topic"
    " WHERE (e.state->>'class_version')::int = k.version"
).format(staged=sql.Identifier(STAGED_TABLE), events=sql.Identifier(EVENTS_TABLE))

_NOT_STAGED = sql.SQL(
    "SELECT e.notification_id, e.originator_id, e.originator_version, e.topic, e.state"
    " FROM {events} e WHERE e.notification_id > %s AND e.notification_id <= %s"
    " AND NOT EXISTS (SELECT 1 FROM {staged} s WHERE s.position = e.notification_id)"
    " ORDER BY e.notification_id"
).format(staged=sql.Identifier(STAGED_TABLE), events=sql.Identifier(EVENTS_TABLE))


def topic(event_class: type[DomainEvent]) -> sql.Literal:
    """An event class's stored topic, as an SQL literal for a view's filters."""
    return sql.Literal(get_topic(event_class))


def topics(*classes: type[DomainEvent]) -> sql.Composed:
    """``(topic, topic, ...)`` for an SQL ``IN``."""
    return sql.SQL("({})").format(sql.SQL(", ").join(topic(c) for c in classes))


@cache
def _current_kinds(class_count: int) -> str:
    """Each loaded event class's topic, schema version, context and name, as the JSON the
    staging statement joins on; recomputed when more classes have been imported."""
    kinds = {}
    for klass in event_classes():
        kinds[get_topic(klass)] = {
            "topic": get_topic(klass), "version": getattr(klass, "class_version", 1),
            "context": klass.context(), "event_type": klass.__name__}
    return orjson.dumps(list(kinds.values())).decode()


def stage(conn: psycopg.Connection[Any], ledger: Ledger, after: int, until: int) -> None:
    """Fill ``staged_events`` (a temporary table of ``conn``) with the events at positions
    (after, until], replacing what it held."""
    conn.execute(_CREATE)
    conn.execute(sql.SQL("TRUNCATE {}").format(sql.Identifier(STAGED_TABLE)))
    kinds = _current_kinds(len(event_classes()))
    staged = conn.execute(_STAGE_CURRENT, (after, until, kinds), prepare=True).rowcount
    if staged == until - after:  # every position of the window held an event of today's shape
        return
    rows = conn.execute(_NOT_STAGED, (after, until)).fetchall()
    if not rows:
        return
    with conn.cursor() as curs, curs.copy(sql.SQL(
            "COPY {} (position, originator_id, originator_version, aggregate_key, topic, context,"
            " event_type, state) FROM STDIN").format(sql.Identifier(STAGED_TABLE))) as copy:
        for row in rows:
            copy.write_row(_restaged(ledger, row))


def _restaged(ledger: Ledger, row: Any) -> tuple[Any, ...]:
    event = ledger.mapper.to_domain_event(StoredEvent(
        originator_id=row["originator_id"], originator_version=row["originator_version"],
        topic=row["topic"], state=bytes(row["state"])))
    state = ledger.mapper.to_stored_event(event).state
    return (row["notification_id"], row["originator_id"], row["originator_version"],
            key_of(row["originator_id"]), row["topic"], type(event).context(),
            type(event).__name__, state.decode())
