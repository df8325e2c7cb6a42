"""Every concrete event class of the domain, found from the code rather than listed by hand,
and the class a recorded row names by its context and type."""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from typing import Any

from domain import (  # noqa: F401 - importing defines them
    agents,
    ecology,
    graph,
    karma,
    learning,
    read_models,
    runs,
    tasks,
)
from domain.base import AggregateEvent


def event_classes() -> list[type[AggregateEvent]]:
    """Concrete events (those that change an aggregate), by context then name."""
    found: list[type[AggregateEvent]] = []
    pending = list(AggregateEvent.__subclasses__())
    while pending:
        cls = pending.pop()
        pending.extend(cls.__subclasses__())
        if cls.__module__.startswith("domain.") and "apply" in vars(cls) and cls not in found:
            found.append(cls)
    return sorted(found, key=lambda cls: (cls.context(), cls.__name__))


def event_class(context: str, event_type: str) -> type[AggregateEvent] | None:
    """The event class named ``event_type`` in ``context``, or None for a name the code does
    not define. The context is part of the name: two contexts may each have a ModelCalled."""
    return _by_name().get((context, event_type))


def recorded_class(row: Mapping[str, Any]) -> type[AggregateEvent] | None:
    """The event class a recorded row (the audit log's, the staged events') names by its
    ``context`` and ``event_type`` columns, so that readers match classes, not strings."""
    return event_class(row["context"], row["event_type"])


@cache
def _by_name() -> dict[tuple[str, str], type[AggregateEvent]]:
    # Every domain module is imported above, so the set of classes cannot grow later.
    return {(cls.context(), cls.__name__): cls for cls in event_classes()}
