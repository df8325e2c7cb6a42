"""Every event, in ledger order, with its provenance: the ledger as a queryable table."""

from __future__ import annotations

from typing import Any

import orjson
from psycopg import Cursor, sql

from domain.base import ENVELOPE_FIELDS, DomainEvent
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


PAYLOAD_EXCLUDES = sorted(ENVELOPE_FIELDS | {"class_version"})

APPEND_ROWS = sql.SQL(
    "INSERT INTO audit_log (position, event_id, originator_id, originator_version, context,"
    " event_type, occurred_at, run_id, correlation_id, causation_id, payload)"
    " SELECT position, originator_id || '@' || originator_version, originator_id,"
    " originator_version, context, event_type, (state->>'timestamp')::timestamptz,"
    " state->'provenance'->>'run_id', state->'provenance'->>'correlation_id',"
    " state->'provenance'->>'causation_id', state - {excludes}::text[]"
    " FROM staged_events WHERE position > %s ORDER BY position"
).format(excludes=sql.Literal(PAYLOAD_EXCLUDES))


class AuditLogProjection(Projection):
    """Every event as a row; built in SQL from the staged events (``audit_row`` is the same
    row made from a decoded event, which the tests hold the SQL to)."""

    name = "audit_log"
    tables = {"audit_log": "position"}
    staged = True
    replays_alone = True  # every event, the widest rows

    def apply_staged(self, curs: Cursor[Any], after: int) -> None:
        curs.execute(APPEND_ROWS, (after,), prepare=True)
