"""What a command handler works with: the unit of work that loads each aggregate once and
saves every aggregate a command (or a batch of commands) touched in one ``Ledger.save`` (one
transaction, all or nothing), the context the service gives it (policy, clock, ids,
provenance), and the checks of who may do what.

The handlers import this module, never the service that runs them: that one imports the
handlers' map (``handlers.dispatch``), so the imports point one way.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, TypeVar

from eventsourcing.application import AggregateNotFoundError

from adapters.event_store import Ledger
from domain.base import Aggregate, Provenance, event_id
from domain.economy import EconomyPolicy
from domain.errors import ForbiddenError, NotFoundError
from domain.runs import Run
from handlers import commands as c

A = TypeVar("A", bound=Aggregate)


class CommandContext(Protocol):
    """What the service gives every handler: the policy, the clock, new ids, provenance."""

    @property
    def policy(self) -> EconomyPolicy: ...

    @property
    def clock(self) -> Callable[[], datetime]: ...

    @property
    def make_id(self) -> Callable[[], str]: ...

    def provenance(self, command: c.Command, run_id: str | None = None) -> Provenance: ...


@dataclass(frozen=True)
class Cause:
    """What the server's own code knows caused a batch of commands it runs: the event (or the
    server's step) behind it and the chain it belongs to. Only Python code running in the
    server passes one (``LedgerService.execute_batch(..., cause=...)``); no command field
    carries it, so nothing a client sends can become a cause. The doors never build one."""

    causation_id: str
    correlation_id: str | None = None
    """The chain the cause belongs to; a new one when None."""

    def __post_init__(self) -> None:
        if not 0 < len(self.causation_id) <= 256:
            raise ValueError("a causation id has 1 to 256 characters")
        if self.correlation_id is not None and not 0 < len(self.correlation_id) <= 128:
            raise ValueError("a correlation id has 1 to 128 characters")


@dataclass(frozen=True)
class CommandScope:
    """The context of one command of a batch (a ``CommandContext``): its provenance is the
    server's. Correlation: the batch's (the request, or the server's cause's chain);
    causation: the server's cause, or the command itself (``command:<type>:<id>``); the
    client's own reference rides along, labelled as such."""

    policy: EconomyPolicy
    clock: Callable[[], datetime]
    make_id: Callable[[], str]
    correlation_id: str
    causation_id: str

    def provenance(self, command: c.Command, run_id: str | None = None) -> Provenance:
        return Provenance(
            run_id=command.run_id or run_id,
            correlation_id=self.correlation_id,
            causation_id=self.causation_id,
            client_reference=command.client_reference,
        )


@dataclass(frozen=True)
class CommandResult:
    position: int
    """Ledger position of the last event written; wait for it to read your own writes."""
    event_ids: list[str]
    ids: dict[str, str] = field(default_factory=dict)


class UnitOfWork:
    """The aggregates one command or batch has loaded or created, saved together."""

    def __init__(self, ledger: Ledger) -> None:
        self._ledger = ledger
        self._aggregates: dict[str, Aggregate] = {}

    def get(self, cls: type[A], key: str) -> A:
        aggregate_id = cls.id_for(key)
        if aggregate_id not in self._aggregates:
            try:
                self._aggregates[aggregate_id] = self._ledger.repository.get(aggregate_id)
            except AggregateNotFoundError:
                raise NotFoundError(f"unknown {cls.id_prefix} {key!r}") from None
        aggregate = self._aggregates[aggregate_id]
        if not isinstance(aggregate, cls):
            raise NotFoundError(f"unknown {cls.id_prefix} {key!r}")
        return aggregate

    def exists(self, cls: type[Aggregate], key: str) -> bool:
        aggregate_id = cls.id_for(key)
        return aggregate_id in self._aggregates or aggregate_id in self._ledger.repository

    def get_or_create(self, cls: type[A], key: str, create: Callable[[], A]) -> A:
        """The aggregate of ``cls`` for ``key``, or the one ``create`` makes, added."""
        if self.exists(cls, key):
            return self.get(cls, key)
        made = create()
        self.add(made)
        return made

    def add(self, *aggregates: Aggregate) -> None:
        for aggregate in aggregates:
            self._aggregates[aggregate.id] = aggregate

    def commit(self) -> CommandResult:
        recordings = self._ledger.save_aggregates(*self._aggregates.values())
        return CommandResult(
            position=max((r.notification.id for r in recordings), default=0),
            event_ids=[
                event_id(r.domain_event.originator_id, r.domain_event.originator_version)
                for r in recordings
            ],
        )


Handler = Callable[[CommandContext, Any, c.Principal, UnitOfWork], dict[str, str]]
"""A command handler: load what it needs into the unit of work, decide, return the ids."""


def require_admin(actor: c.Principal, action: str) -> None:
    if not actor.is_admin:
        raise ForbiddenError(f"{actor.describe()} may not {action}; it needs an admin token")


def require_self(actor: c.Principal, agent_id: str | None, action: str) -> None:
    if not actor.is_admin and actor.agent_id != agent_id:
        raise ForbiddenError(
            f"{actor.describe()} may not {action} as {agent_id or 'another agent'}"
        )


def require_run(unit: UnitOfWork, command: c.Command) -> None:
    if command.run_id is not None:
        unit.get(Run, command.run_id)
