"""What every bounded context shares: provenance, the event base classes, the aggregate base.

Events are frozen pydantic models so that their payloads are validated and carry a schema
version (``class_version``); the eventsourcing library supplies the aggregate mechanics
(versioning, optimistic concurrency, snapshots). Nothing here reads a clock or draws a random
number: timestamps and ids arrive as arguments.
"""

from __future__ import annotations

import functools
import inspect
from datetime import datetime
from typing import Any, ClassVar

from eventsourcing.domain import (
    BaseAggregate,
    CanInitAggregate,
    CanMutateAggregate,
    CanSnapshotAggregate,
)
from eventsourcing.utils import get_topic, resolve_topic
from pydantic import BaseModel, ConfigDict, Field

SLUG_PATTERN = r"^[a-z0-9][a-z0-9_.-]{0,63}$"
"""Ids chosen by people (agents, runs, tags): short, lower case, safe in subjects and URLs."""


ENVELOPE_FIELDS = frozenset({"originator_id", "originator_version", "timestamp", "provenance",
                             "originator_topic"})
"""Fields every event carries to place it; the rest of an event is its payload."""


class Provenance(BaseModel):
    """Why an event exists: the run it belongs to, the request that started the chain
    (correlation) and the command or event that directly caused it (causation).

    The server alone chooses correlation and causation (``handlers.service``): a client's
    own label for its request is kept apart, as ``client_reference``, and is never a cause.
    Events recorded before that field existed read with it empty (and their causes as they
    were recorded)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    run_id: str | None = None
    correlation_id: str = Field(min_length=1, max_length=128)
    causation_id: str = Field(min_length=1, max_length=256)
    client_reference: str | None = Field(default=None, max_length=256,
                                         exclude_if=lambda value: value is None)
    """What the client that sent the command called it, verbatim: its own reference, for its
    own records. The server vouches for nothing in it; it is not a cause. Left out of the
    stored event when empty, so most events are stored as before."""


class DomainEvent(BaseModel):
    """A fact that happened. ``class_version`` is its schema version; a class whose version
    is N > 1 defines ``upcast_v{k}_v{k+1}(state)`` for every older k."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    class_version: ClassVar[int] = 1

    originator_id: str
    originator_version: int
    timestamp: datetime
    provenance: Provenance

    @property
    def event_id(self) -> str:
        """A stable id for this event, used as the causation id of what it causes."""
        return event_id(self.originator_id, self.originator_version)

    @classmethod
    def context(cls) -> str:
        """The bounded context the event belongs to (its module's name)."""
        return cls.__module__.rsplit(".", 1)[-1]


def event_classes() -> list[type[DomainEvent]]:
    """Every event class of the modules imported so far, abstract bases included."""
    found, pending = [], list(DomainEvent.__subclasses__())
    while pending:
        klass = pending.pop()
        found.append(klass)
        pending.extend(klass.__subclasses__())
    return found


def event_id(originator_id: str, originator_version: int) -> str:
    return f"{originator_id}@{originator_version}"


def key_of(aggregate_id: str) -> str:
    """The key an aggregate id was made from: ``task/sum-lora`` -> ``sum-lora``."""
    return aggregate_id.split("/", 1)[1]


class AggregateEvent(DomainEvent, CanMutateAggregate[str]):
    """An event that moves an aggregate from one version to the next."""


class AggregateCreated(AggregateEvent, CanInitAggregate[str]):
    """The first event of an aggregate."""

    originator_topic: str

    def mutate(self, aggregate: Any) -> Any:
        """The library's construction, without matching the event's fields to ``__init__``
        parameters by signature (a tenth of a batched save): our aggregates take none and
        get their state from ``apply``. One that declares some gets the library's way."""
        aggregate_class = resolve_topic(self.originator_topic)
        if _takes_parameters(aggregate_class.__init__):
            return super().mutate(aggregate)
        created = aggregate_class.__new__(aggregate_class)
        created.__base_init__(self.originator_id, self.originator_version, self.timestamp)
        created.__init__()
        self.apply(created)
        return created


@functools.cache
def _takes_parameters(init: Any) -> bool:
    return len(inspect.signature(init).parameters) > 1  # more than self


class Aggregate(BaseAggregate[str]):
    """Base of our aggregates: string ids prefixed by the aggregate's kind (``agent/reader-1``),
    so that an id alone says what it names in the audit log."""

    id_prefix: ClassVar[str] = ""

    @classmethod
    def id_for(cls, key: str) -> str:
        """The id of this kind's aggregate for ``key``: ``Task.id_for("sum-lora")`` is
        ``task/sum-lora``. A template works too: ``id_for("{agent_id}")``."""
        return f"{cls.id_prefix}/{key}"

    @classmethod
    def owns(cls, aggregate_id: str) -> bool:
        """Whether ``aggregate_id`` names an aggregate of this kind (its key: ``key_of``)."""
        return aggregate_id.startswith(cls.id_for(""))

    @classmethod
    def restore_snapshot_state(cls, state: dict[str, Any]) -> dict[str, Any]:
        """Turn a snapshot's JSON state back into attribute values; override where an
        attribute is not a JSON scalar (Decimal, datetime, set)."""
        return state


class Snapshot(BaseModel, CanSnapshotAggregate[str]):
    """The state of an aggregate at a version, so that loading it does not replay history."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    originator_id: str
    originator_version: int
    timestamp: datetime
    topic: str
    state: dict[str, Any]

    @classmethod
    def take(cls, aggregate: Any) -> Snapshot:  # type: ignore[override]
        state = {
            key: value
            for key, value in vars(aggregate).items()
            if key not in ("_id", "_version", "_pending_events")
        }
        return cls(
            originator_id=aggregate.id,
            originator_version=aggregate.version,
            timestamp=aggregate.modified_on,
            topic=get_topic(type(aggregate)),
            state=state,
        )

    def mutate(self, _: None) -> Aggregate:  # type: ignore[override]
        aggregate_class: type[Aggregate] = resolve_topic(self.topic)
        state = aggregate_class.restore_snapshot_state(dict(self.state))
        for key in ("_created_on", "_modified_on"):
            if isinstance(state.get(key), str):
                state[key] = datetime.fromisoformat(state[key])
        state["_id"] = self.originator_id
        state["_version"] = self.originator_version
        state["_pending_events"] = []
        aggregate = object.__new__(aggregate_class)
        object.__setattr__(aggregate, "__dict__", state)
        return aggregate
