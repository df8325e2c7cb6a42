"""The command side's machinery: the service that runs a command's handler (see
``handlers.dispatch`` for the map) in a unit of work, saves it, and retries lost races.

A unit of work loads each aggregate once, and saves every aggregate a command (or a batch
of commands) touched in one ``Ledger.save``: one transaction, all or nothing. A write that
loses an optimistic-concurrency race is retried from a fresh load.
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

import structlog
from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import IntegrityError

from domain.base import Aggregate, Provenance, event_id
from domain.economy import EconomyPolicy
from domain.runs import Run
from handlers import commands as c
from handlers.errors import ConcurrencyError, ForbiddenError, NotFoundError
from handlers.ledger import Ledger

log = structlog.get_logger(__name__)

A = TypeVar("A", bound=Aggregate)

MAX_ATTEMPTS = 25
BACKOFF_CAP_S = 0.1
MAX_BATCH = 500
"""Commands saved in one transaction at most; the library hangs on very large saves."""


def utc_now() -> datetime:
    return datetime.now(UTC)


def new_id() -> str:
    """128 random bits as hex: a uuid4's entropy without building a UUID object."""
    return os.urandom(16).hex()


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


Handler = Callable[["LedgerService", Any, c.Principal, UnitOfWork], dict[str, str]]
"""A command handler: load what it needs into the unit of work, decide, return the ids."""


class LedgerService:
    def __init__(
        self,
        ledger: Ledger,
        policy: EconomyPolicy | None = None,
        clock: Callable[[], datetime] = utc_now,
        make_id: Callable[[], str] = new_id,
    ) -> None:
        from handlers.dispatch import HANDLERS  # the handlers import this module's machinery

        self.ledger = ledger
        self.policy = policy or EconomyPolicy()
        self.clock = clock
        self.make_id = make_id
        self.handlers: dict[type[c.Command], Handler] = HANDLERS

    def execute(self, command: c.Command, actor: c.Principal = c.ADMIN) -> CommandResult:
        return self.execute_batch([command], actor)

    def execute_batch(
        self, commands: Sequence[c.Command], actor: c.Principal = c.ADMIN
    ) -> CommandResult:
        """Run the commands in order and save all their events in one transaction; if any is
        refused, none is written."""
        if not 0 < len(commands) <= MAX_BATCH:
            raise ValueError(f"a batch holds 1 to {MAX_BATCH} commands, not {len(commands)}")
        for attempt in range(1, MAX_ATTEMPTS + 1):
            unit = UnitOfWork(self.ledger)
            ids: dict[str, str] = {}
            for command in commands:
                ids.update(self.handlers[type(command)](self, command, actor, unit))
            try:
                result = unit.commit()
            except IntegrityError:
                # Full jitter: writers that collided spread out instead of colliding again.
                delay = random.uniform(0, min(BACKOFF_CAP_S, 0.002 * 2**attempt))
                log.debug("write conflict; retrying", attempt=attempt, delay_s=round(delay, 4),
                          command=type(commands[0]).__name__)
                time.sleep(delay)
                continue
            return CommandResult(result.position, result.event_ids, ids)
        raise ConcurrencyError(
            f"gave up after {MAX_ATTEMPTS} attempts: other writers kept changing the same records"
        )

    def provenance(self, command: c.Command, run_id: str | None = None) -> Provenance:
        return Provenance(
            run_id=command.run_id or run_id,
            correlation_id=command.correlation_id or self.make_id(),
            causation_id=command.causation_id or f"command:{type(command).__name__}:{self.make_id()}",
        )


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
