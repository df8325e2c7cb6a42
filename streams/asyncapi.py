"""The AsyncAPI document of every subject and payload, generated from the code.

Each domain event class becomes a publisher on ``ledger.<context>.<EventType>`` whose
message is the CloudEvent with that event's payload as ``data``; each work queue of the task
type registry (workers/task_types.py, passed in: the streams do not import the workers)
becomes a subscriber on ``tasks.<task_type>``: a TaskIssued CloudEvent for a type issued
through the ledger, its producer's JSON otherwise. A CloudEvent's correlation id is its
``correlationid`` attribute (the relay publishes no header of that name).
``docs/asyncapi.json`` is this document, and a test fails when the two differ: regenerate it
with ``karma stream asyncapi --write``.
"""


import json
from collections.abc import Iterable
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any, Literal, Protocol

from faststream.nats import JStream, NatsBroker, PullSub
from faststream.specification import AsyncAPI
from faststream.specification.asyncapi.v3_0_0.schema import ApplicationSchema, CorrelationId
from pydantic import BaseModel, ConfigDict, Field, create_model

from domain.base import ENVELOPE_FIELDS, AggregateEvent
from domain.catalogue import event_classes
from streams.cloudevents import SOURCE
from streams.topology import Topology

DOCUMENT = Path(__file__).resolve().parent.parent / "docs" / "asyncapi.json"

CORRELATION = CorrelationId(
    location="$message.payload#/correlationid",
    description="The ledger's correlation id: the request that started the chain of events.")
"""Where a CloudEvent carries its correlation id (streams/cloudevents.py): in the body."""


class TaskQueue(Protocol):
    """A work queue as the task type registry describes it (workers/task_types.py)."""

    @property
    def name(self) -> str: ...

    @property
    def description(self) -> str: ...

    @property
    def issued(self) -> bool: ...


@cache
def cloud_event_model(event_class: type[AggregateEvent]) -> type[BaseModel]:
    name = event_class.__name__
    # Qualified by context: two contexts may name an event alike (tasks' and graph's
    # ModelCalled), and schema names must be unique in the document.
    qualified = event_class.context().capitalize() + name
    data_fields: dict[str, Any] = {
        field: (info.annotation, info)
        for field, info in event_class.model_fields.items()
        if field not in ENVELOPE_FIELDS
    }
    data = create_model(f"{qualified}Data", __config__=ConfigDict(extra="forbid"), **data_fields)
    event_type = f"karma.{event_class.context()}.{name}"
    return create_model(
        f"{qualified}CloudEvent",
        __doc__=f"CloudEvents 1.0 message of a {name} ledger event.",
        specversion=(Literal["1.0"], ...),
        id=(str, Field(description="The event: <aggregate id>@<version>.")),
        source=(Literal[SOURCE], ...),  # type: ignore[valid-type]
        type=(Literal[event_type], ...),  # type: ignore[valid-type]
        subject=(str, Field(description="The aggregate, e.g. task/<id>.")),
        time=(datetime, ...),
        datacontenttype=(Literal["application/json"], ...),
        dataschemaversion=(int, Field(description="The event's schema version.")),
        position=(int, Field(description="Ledger position; also the Karma-Position header.")),
        runid=(str | None, ...),
        correlationid=(str, ...),
        causationid=(str, ...),
        data=(data, ...),
    )


def documented_broker(topology: Topology, task_types: Iterable[str | TaskQueue]) -> NatsBroker:
    broker = NatsBroker()
    ledger = JStream(topology.ledger_stream, declare=False)
    tasks = JStream(topology.tasks_stream, declare=False)
    for event_class in event_classes():
        subject = topology.ledger_subject(event_class.context(), event_class.__name__)
        broker.publisher(subject, stream=ledger, schema=cloud_event_model(event_class),
                         title=subject,
                         description=(event_class.__doc__ or event_class.__name__).strip())
    from domain.tasks import TaskIssued

    issued = cloud_event_model(TaskIssued)
    for queue in sorted(task_types, key=_name):
        task_type = _name(queue)
        subject = topology.task_subject(task_type)
        if isinstance(queue, str) or queue.issued:
            async def work(body: issued) -> None:  # type: ignore[valid-type]
                """Documentation only: the queue's real subscriber is workers.work_queue."""

            description = f"Work queue of {task_type} tasks (TaskIssued CloudEvents)."
        else:
            async def work(body: dict[str, Any]) -> None:  # type: ignore[misc]
                """Documentation only: its producer's JSON, not a CloudEvent."""

            description = f"Work queue of {task_type}: {queue.description}"
        if not isinstance(queue, str) and queue.issued:
            description += f" {queue.description}"
        broker.subscriber(subject, stream=tasks, durable=topology.worker_durable(task_type),
                          pull_sub=PullSub(), title=subject, description=description)(work)
    return broker


def _name(queue: str | TaskQueue) -> str:
    return queue if isinstance(queue, str) else queue.name


def specification(task_types: Iterable[str | TaskQueue],
                  topology: Topology | None = None) -> AsyncAPI:
    """The streams' document; ``task_types``: the work queues to list (the registry's)."""
    return AsyncAPI(documented_broker(topology or Topology(), task_types),
                    title="Karma Ledger streams",
                    version="0.1.0", schema_version="3.0.0",
                    description="Ledger events on LEDGER and task work queues on TASKS.")


def application_schema(task_types: Iterable[str | TaskQueue],
                       topology: Topology | None = None) -> ApplicationSchema:
    """The document as FastStream builds it, with each message's correlation id where the
    message really carries it: FastStream names a ``correlation_id`` header, which the relay
    does not publish; a CloudEvent has it in its body, a producer's own JSON not at all."""
    schema = specification(task_types, topology).to_specification()
    messages = (schema.components.messages if schema.components else None) or {}
    for message in messages.values():
        payload = message.payload if isinstance(message.payload, dict) else {}
        cloud_event = str(payload.get("$ref", "")).endswith("CloudEvent")
        message.correlationId = CORRELATION if cloud_event else None
    return schema


def document(task_types: Iterable[str | TaskQueue],
             topology: Topology | None = None) -> dict[str, Any]:
    return json.loads(application_schema(task_types, topology).to_json())


def render(task_types: Iterable[str | TaskQueue], topology: Topology | None = None) -> str:
    """The document as committed: keys sorted, so that a diff shows only real changes."""
    return json.dumps(document(task_types, topology), indent=2, sort_keys=True) + "\n"
