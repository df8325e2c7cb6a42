"""The command side's entry: the service that runs a command's handler (see
``handlers.dispatch`` for the map) in a unit of work, saves it, and retries lost races.
A write that loses an optimistic-concurrency race is retried from a fresh load.
"""

from __future__ import annotations

import functools
import os
import random
import time
import types
import typing
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from enum import Enum
from typing import TypeVar

import structlog
from eventsourcing.persistence import IntegrityError
from pydantic import BaseModel

from adapters.event_store import Ledger
from domain.base import Aggregate
from domain.economy import EconomyPolicy
from domain.errors import ConcurrencyError, FutureInstantError
from handlers import commands as c
from handlers.dispatch import HANDLERS
from handlers.unit_of_work import Cause, CommandResult, CommandScope, Handler, UnitOfWork

__all__ = ["Cause", "CommandResult", "LedgerService", "new_id", "utc_now"]

log = structlog.get_logger(__name__)

A = TypeVar("A", bound=Aggregate)

MAX_ATTEMPTS = 25
BACKOFF_CAP_S = 0.1
MAX_BATCH = 500
"""Commands saved in one transaction at most; the library hangs on very large saves."""
CLOCK_SKEW = timedelta(seconds=5)
"""How far past the server's clock a command's instant may lie by default (settings:
``KARMA_CLOCK_SKEW_S``)."""


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
        clock_skew: timedelta = CLOCK_SKEW,
    ) -> None:
        self.ledger = ledger
        self.policy = policy or EconomyPolicy()
        self.clock = clock
        self.make_id = make_id
        self.clock_skew = clock_skew
        """How far past the clock an instant a command carries may lie (clocks differ)."""
        self.handlers: dict[type[c.Command], Handler] = HANDLERS

    def execute(
        self, command: c.Command, actor: c.Principal = c.ADMIN, *, cause: Cause | None = None
    ) -> CommandResult:
        return self.execute_batch([command], actor, cause=cause)

    def execute_batch(
        self,
        commands: Sequence[c.Command],
        actor: c.Principal = c.ADMIN,
        *,
        cause: Cause | None = None,
    ) -> CommandResult:
        """Run the commands in order and save all their events in one transaction; if any is
        refused, none is written.

        Their provenance is the server's: one correlation id for the batch and, as each
        command's cause, ``cause`` (what the server's own code knows caused them: only code
        in the server passes it) or the command itself. A client's reference on a command is
        kept beside them, never as either."""
        if not 0 < len(commands) <= MAX_BATCH:
            raise ValueError(f"a batch holds 1 to {MAX_BATCH} commands, not {len(commands)}")
        now = self.clock()
        for command in commands:
            self._refuse_instants_beyond(command, now)
        correlation_id = (cause.correlation_id if cause else None) or self.make_id()
        scopes = [
            CommandScope(
                policy=self.policy,
                clock=self.clock,
                make_id=self.make_id,
                correlation_id=correlation_id,
                causation_id=(cause.causation_id if cause
                              else f"command:{type(command).__name__}:{self.make_id()}"),
            )
            for command in commands
        ]
        for attempt in range(1, MAX_ATTEMPTS + 1):
            unit = UnitOfWork(self.ledger)
            ids: dict[str, str] = {}
            for command, scope in zip(commands, scopes, strict=True):
                ids.update(self.handlers[type(command)](scope, command, actor, unit))
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

    def _refuse_instants_beyond(self, command: c.Command, now: datetime) -> None:
        """An instant a command carries (a decay's ``as_of``) may not lie beyond the clock:
        the ledger records what has happened, and a decay to 2100 would take an account's
        karma for good."""
        latest = now + self.clock_skew
        for name, instant in _instants(command):
            if instant > latest:
                raise FutureInstantError(
                    f"{name} {instant.isoformat()} is later than the server's clock "
                    f"({now.isoformat(timespec='seconds')}, "
                    f"{self.clock_skew.total_seconds():g} s of skew allowed): an instant "
                    "may not lie in the future")


def _instants(value: object, path: str = "") -> Iterator[tuple[str, datetime]]:
    """Every datetime in a command, with where it is (``as_of``)."""
    if isinstance(value, datetime):
        yield path, value if value.tzinfo else value.replace(tzinfo=UTC)  # naive: read as UTC
    elif isinstance(value, BaseModel):
        for name in _fields_that_may_hold_instants(type(value)):
            yield from _instants(getattr(value, name), f"{path}.{name}" if path else name)
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _instants(item, f"{path}.{key}")
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            yield from _instants(item, f"{path}[{index}]")


@functools.cache
def _fields_that_may_hold_instants(model: type[BaseModel]) -> tuple[str, ...]:
    """The fields whose declared type admits a datetime: the walk skips texts, numbers and
    amounts, most of a command, by its class."""
    return tuple(name for name, field in model.model_fields.items()
                 if _may_hold_instant(field.annotation))


def _may_hold_instant(annotation: object) -> bool:
    if annotation in (str, int, float, bool, Decimal, type(None)):
        return False
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        return False
    if typing.get_origin(annotation) is typing.Literal:
        return False
    arguments = typing.get_args(annotation)
    if typing.get_origin(annotation) is typing.Annotated:
        return _may_hold_instant(arguments[0])
    if arguments and typing.get_origin(annotation) in (tuple, list, frozenset, set, dict,
                                                      typing.Union, types.UnionType):
        return any(_may_hold_instant(argument) for argument in arguments
                   if argument is not Ellipsis)
    return True  # datetime, Any, a model, anything unforeseen: walk it
