"""Every event, in ledger order, with its provenance: the ledger as a queryable table."""

from __future__ import annotations

from typing import Any

from psycopg import Cursor, sql

from domain.base import ENVELOPE_FIELDS
from projections.base import Projection

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
    """Every event as a row; built in SQL from the staged events (the tests hold each row to
    the one the decoded event gives)."""

    name = "audit_log"
    tables = {"audit_log": "position"}
    staged = True
    replays_alone = True  # every event, the widest rows

    def apply_staged(self, curs: Cursor[Any], after: int) -> None:
        curs.execute(APPEND_ROWS, (after,), prepare=True)
