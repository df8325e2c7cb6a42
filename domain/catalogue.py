"""Every concrete event class of the domain, found from the code rather than listed by hand."""

from __future__ import annotations

from domain import agents, graph, karma, runs, tasks  # noqa: F401 - importing defines them
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
