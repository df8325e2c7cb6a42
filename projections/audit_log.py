"""Every event, in ledger order, with its provenance: the ledger as a queryable table."""

from __future__ import annotations

from typing import Any

import orjson
from psycopg import Cursor

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


class AuditLogProjection(Projection):
    name = "audit_log"
    tables = {"audit_log": "position"}

    pipelined = False  # COPY is not allowed in pipeline mode, and needs no pipeline

    def apply_batch(self, curs: Cursor[Any], events: list[tuple[int, DomainEvent]]) -> None:
        with curs.copy(
            "COPY audit_log (position, event_id, originator_id, originator_version, context,"
            " event_type, occurred_at, run_id, correlation_id, causation_id, payload)"
            " FROM STDIN"
        ) as copy:
            for position, event in events:
                copy.write_row(audit_row(position, event))
