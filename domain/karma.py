"""A karma account: one per agent, the only place a balance is checked before it moves.

Amounts are Decimals with at most six places, so that sums are exact and a replay
reproduces every balance to the last digit.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from pydantic import Field

from domain.base import Aggregate, AggregateCreated, AggregateEvent, Provenance
from domain.errors import InsufficientKarmaError, InvalidAmountError

AMOUNT_PLACES = 6
MAX_AMOUNT = Decimal(1_000_000)


def validate_amount(amount: Decimal | float | int | str) -> Decimal:
    """A movement of karma: finite, positive, at most MAX_AMOUNT, at most six decimal places."""
    try:
        value = Decimal(str(amount))
    except (InvalidOperation, ValueError):
        raise InvalidAmountError(f"amount {amount!r} is not a number") from None
    if not value.is_finite():
        raise InvalidAmountError(f"amount {amount!r} is not finite")
    if value <= 0:
        raise InvalidAmountError(f"amount {amount!r} must be greater than zero")
    if value > MAX_AMOUNT:
        raise InvalidAmountError(f"amount {amount!r} exceeds the maximum of {MAX_AMOUNT}")
    exponent = value.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -AMOUNT_PLACES:
        raise InvalidAmountError(
            f"amount {amount!r} has more than {AMOUNT_PLACES} decimal places"
        )
    return value


class KarmaAccountOpened(AggregateCreated):
    agent_id: str

    def apply(self, account: KarmaAccount) -> None:
        account.agent_id = self.agent_id
        account.balance = Decimal(0)
        account.minted = Decimal(0)
        account.burned = Decimal(0)


class KarmaMovement(AggregateEvent):
    """Shared fields of an entry in the account: why it moved and what caused it."""

    amount: Decimal = Field(gt=0)
    reason: str = Field(min_length=1, max_length=1024)
    task_id: str | None = None
    scope: tuple[str, ...] = ()


class KarmaMinted(KarmaMovement):
    def apply(self, account: KarmaAccount) -> None:
        account.balance += self.amount
        account.minted += self.amount


class KarmaBurned(KarmaMovement):
    def apply(self, account: KarmaAccount) -> None:
        account.balance -= self.amount
        account.burned += self.amount


class KarmaAccount(Aggregate):
    id_prefix = "karma"

    @classmethod
    def open(cls, agent_id: str, *, at: datetime, provenance: Provenance) -> KarmaAccount:
        return cls._create(
            KarmaAccountOpened,
            id=cls.id_for(agent_id),
            agent_id=agent_id,
            timestamp=at,
            provenance=provenance,
        )

    def mint(
        self,
        amount: Decimal,
        *,
        reason: str,
        task_id: str | None,
        scope: tuple[str, ...],
        at: datetime,
        provenance: Provenance,
    ) -> None:
        self.trigger_event(
            KarmaMinted,
            amount=validate_amount(amount),
            reason=reason,
            task_id=task_id,
            scope=scope,
            timestamp=at,
            provenance=provenance,
        )

    def burn(
        self,
        amount: Decimal,
        *,
        reason: str,
        task_id: str | None,
        scope: tuple[str, ...],
        at: datetime,
        provenance: Provenance,
    ) -> None:
        value = validate_amount(amount)
        if value > self.balance:
            raise InsufficientKarmaError(
                f"cannot burn {value} karma from {self.agent_id}: its balance is {self.balance}"
            )
        self.trigger_event(
            KarmaBurned,
            amount=value,
            reason=reason,
            task_id=task_id,
            scope=scope,
            timestamp=at,
            provenance=provenance,
        )

    @classmethod
    def restore_snapshot_state(cls, state: dict[str, Any]) -> dict[str, Any]:
        for key in ("balance", "minted", "burned"):
            state[key] = Decimal(state[key])
        return state
