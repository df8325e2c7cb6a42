"""The command side's entry: the service that runs a command's handler (see
``handlers.dispatch`` for the map) in a unit of work, saves it, and retries lost races.
A write that loses an optimistic-concurrency race is retried from a fresh load.
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import TypeVar

import structlog
from eventsourcing.persistence import IntegrityError

from adapters.event_store import Ledger
from domain.base import Aggregate, Provenance
from domain.economy import EconomyPolicy
from domain.errors import ConcurrencyError
from handlers import commands as c
from handlers.dispatch import HANDLERS
from handlers.unit_of_work import CommandResult, Handler, UnitOfWork

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


class LedgerService:
    def __init__(
        self,
        ledger: Ledger,
        policy: EconomyPolicy | None = None,
        clock: Callable[[], datetime] = utc_now,
        make_id: Callable[[], str] = new_id,
    ) -> None:
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
