"""Every event, in ledger order, with its provenance: the ledger as a queryable table."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

import orjson
from eventsourcing.persistence import StoredEvent
from eventsourcing.utils import resolve_topic
from psycopg import Cursor

from domain.base import ENVELOPE_FIELDS, DomainEvent, event_id
from handlers.ledger import decode_event
from projections.base import Projection


def audit_row(position: int, event: DomainEvent) -> tuple[Any, ...]:
    payload = event.model_dump(mode="json", exclude=ENVELOPE_FIELDS)
    provenance = event.provenance
    return (
        position, event.event_id, event.originator_id, event.originator_version,
        type(event).context(), type(event).__name__, event.timestamp,
        provenance.run_id, provenance.correlation_id, provenance.causation_id,
        orjson.dumps(payload, option=orjson.OPT_SORT_KEYS).decode(),
    )


@dataclass(frozen=True)
class _Kind:
    event_class: type[DomainEvent]
    context: str
    name: str
    version: int
    fields: frozenset[str]
    """The keys a stored state of the current version holds (fields less the originator's)."""


@cache
def _kind(topic: str) -> _Kind:
    event_class = resolve_topic(topic)
    fields = frozenset(event_class.model_fields) - {"originator_id", "originator_version"}
    return _Kind(event_class, event_class.context(), event_class.__name__,
                 getattr(event_class, "class_version", 1), fields | {"class_version"})


def raw_audit_row(position: int, stored: StoredEvent) -> tuple[Any, ...]:
    """The same row as ``audit_row``, read from the stored JSON without building the event:
    the stored state is the event's own JSON dump. A state of an older schema version, or
    with other keys than the class has now, goes the long way (decode, upcast, dump)."""
    kind = _kind(stored.topic)
    state = orjson.loads(stored.state)
    if state.get("class_version", 1) != kind.version or state.keys() != kind.fields:
        event = decode_event(kind.event_class, stored.originator_id,
                             stored.originator_version, state)
        return audit_row(position, event)
    provenance = state["provenance"]
    payload = {key: value for key, value in state.items()
               if key not in ENVELOPE_FIELDS and key != "class_version"}
    return (
        position, event_id(stored.originator_id, stored.originator_version),
        stored.originator_id, stored.originator_version, kind.context, kind.name,
        state["timestamp"], provenance["run_id"], provenance["correlation_id"],
        provenance["causation_id"], orjson.dumps(payload, option=orjson.OPT_SORT_KEYS).decode(),
    )


class AuditLogProjection(Projection):
    name = "audit_log"
    tables = {"audit_log": "position"}

    pipelined = False  # COPY is not allowed in pipeline mode, and needs no pipeline
    raw = True  # every event, and only its JSON: decoding each one would cost 3x the rest

    def apply_batch(self, curs: Cursor[Any], events: list[tuple[int, StoredEvent]]) -> None:
        with curs.copy(
            "COPY audit_log (position, event_id, originator_id, originator_version, context,"
            " event_type, occurred_at, run_id, correlation_id, causation_id, payload)"
            " FROM STDIN"
        ) as copy:
            for position, stored in events:
                copy.write_row(raw_audit_row(position, stored))
