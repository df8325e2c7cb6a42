"""What a projection is: a view over some tables, fed events in ledger order."""

from __future__ import annotations

import hashlib
from abc import ABC
from collections.abc import Callable
from typing import Any, ClassVar, TypeVar

from eventsourcing.utils import get_topic
from psycopg import Cursor, sql

from domain.base import DomainEvent

DIGEST_CHUNK = 20_000
"""Rows hashed together by PostgreSQL: a few MB of text per chunk."""

Handler = Callable[[Any, Any, Cursor[Any], int], None]
H = TypeVar("H", bound=Handler)


def handles(event_class: type[DomainEvent]) -> Callable[[H], H]:
    """Mark a projection method as the one that applies ``event_class`` to the view."""

    def mark(method: H) -> H:
        method.handles = event_class  # type: ignore[attr-defined]
        return method

    return mark


class Projection(ABC):
    """A read model. Each event class is applied by the method marked ``@handles`` for it;
    events a view has no handler for are skipped (its position still moves past them)."""

    name: ClassVar[str]
    tables: ClassVar[dict[str, str]]
    """Each table of the view and the columns that order its rows in the digest: a unique
    key (its primary key, whose index the digest walks)."""
    handlers: ClassVar[dict[type, Handler]] = {}
    staged: ClassVar[bool] = False
    """Folds events in SQL from the ``staged_events`` table (``apply_staged``) instead of
    taking decoded events: for views that read most of the ledger."""
    replays_alone: ClassVar[bool] = False
    """In a rebuild of several views, replay this one on a connection of its own, in
    parallel with the others: for a view about as heavy as all of them together."""
    origins: ClassVar[dict[str, str]] = {}
    """For tables whose rows are not keyed by a ledger position: the aggregate a row belongs
    to, as a template over its columns ("karma/{agent_id}"), so a row that differs from its
    replay can be traced to the last event of that aggregate."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.handlers = {
            attribute.handles: attribute
            for klass in reversed(cls.__mro__)
            for attribute in vars(klass).values()
            if hasattr(attribute, "handles")
        }

    @classmethod
    def topics(cls) -> list[str] | None:
        """The stored topics of the events this view reads, or None for all of them."""
        return sorted(get_topic(c) for c in cls.handlers) if cls.handlers else None

    def apply_batch(self, curs: Cursor[Any], events: list[tuple[int, DomainEvent]]) -> None:
        for position, event in events:
            self.apply(event, curs, position)

    def apply(self, event: DomainEvent, curs: Cursor[Any], position: int) -> None:
        handler = self.handlers.get(type(event))
        if handler is not None:
            handler(self, event, curs, position)

    def apply_staged(self, curs: Cursor[Any], after: int) -> None:
        """Apply the staged events at positions after ``after`` (a view with ``staged``)."""
        raise NotImplementedError(f"{self.name} folds decoded events, not staged ones")

    def clear(self, curs: Cursor[Any]) -> None:
        for table in self.tables:
            curs.execute(sql.SQL("DELETE FROM {}").format(sql.Identifier(table)))

    def digest(self, curs: Cursor[Any]) -> str:
        """sha256 over every row of every table in key order: equal digests, equal views.
        PostgreSQL hashes the rows' binary forms (``record_send``: self-delimiting, and a
        third the cost of their text) a chunk at a time, walking the key's index from where
        the last chunk ended; this hashes the chunks' hashes."""
        hasher = hashlib.sha256()
        for table, order_by in sorted(self.tables.items()):
            hasher.update(f"\x00{table}\x00".encode())
            columns = [sql.Identifier(column.strip()) for column in order_by.split(",")]
            key = sql.SQL(", ").join(columns)
            last: tuple[Any, ...] | None = None
            while True:
                after = sql.SQL("") if last is None else sql.SQL("WHERE ({}) > ({})").format(
                    key, sql.SQL(", ").join(sql.Placeholder() * len(columns)))
                row = curs.execute(sql.SQL(
                    "WITH chunk AS MATERIALIZED (SELECT * FROM {table} {after}"
                    " ORDER BY {key} LIMIT {size})"
                    " SELECT hashed.h, last.* FROM"
                    " (SELECT sha256(string_agg(record_send(c), ''::bytea ORDER BY {key})) AS h"
                    "  FROM chunk AS c) AS hashed,"
                    " LATERAL (SELECT {key} FROM chunk ORDER BY {descending} LIMIT 1) AS last"
                ).format(table=sql.Identifier(table), after=after, key=key,
                         size=sql.Literal(DIGEST_CHUNK),
                         descending=sql.SQL(", ").join(sql.SQL("{} DESC").format(c)
                                                       for c in columns)),
                    last).fetchone()
                if row is None:
                    break
                values = list(row.values()) if isinstance(row, dict) else list(row)
                hasher.update(values[0])
                last = tuple(values[1:])
        return hasher.hexdigest()
