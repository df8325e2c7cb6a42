"""A karma account: one per agent, the only place a balance is checked before it moves.

Available balance and escrow (stakes held for tasks) add up to what was minted, less what
was burned, decayed and slashed. Scoped balances follow the tags of the work that earned
them; ratings (Glicko-2, per scope) say how settled the agent's standing is. Amounts are
Decimals with at most six places, so sums are exact and a replay reproduces every digit.
"""

from __future__ import annotations

from datetime import datetime
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from typing import Any

from pydantic import Field

from domain.base import Aggregate, AggregateCreated, AggregateEvent, Provenance
from domain.errors import DuplicateStakeError, InsufficientKarmaError, InvalidAmountError
from domain.rating import Rating

AMOUNT_PLACES = 6
MAX_AMOUNT = Decimal(1_000_000)
GLOBAL_SCOPE = "global"
QUANTUM = Decimal(1).scaleb(-AMOUNT_PLACES)


def quantize(value: Decimal) -> Decimal:
    """Round to the six places an amount may have (banker's rounding: no drift in sums)."""
    return value.quantize(QUANTUM, rounding=ROUND_HALF_EVEN)


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
        account.escrow = Decimal(0)
        account.decayed = Decimal(0)
        account.slashed = Decimal(0)
        account.scoped = {}
        account.stakes = {}
        account.ratings = {}
        account.decayed_until = self.timestamp


class KarmaMovement(AggregateEvent):
    """Shared fields of an entry in the account: why it moved and what caused it."""

    amount: Decimal = Field(gt=0)
    reason: str = Field(min_length=1, max_length=1024)
    task_id: str | None = None
    scope: tuple[str, ...] = ()
    formula: dict[str, Decimal] = {}
    """The reward formula's inputs and result, when the formula set the amount."""


class KarmaMinted(KarmaMovement):
    def apply(self, account: KarmaAccount) -> None:
        account.balance += self.amount
        account.minted += self.amount
        for tag in self.scope:
            account.scoped[tag] = account.scoped.get(tag, Decimal(0)) + self.amount


class KarmaBurned(KarmaMovement):
    def apply(self, account: KarmaAccount) -> None:
        account.balance -= self.amount
        account.burned += self.amount
        for tag in self.scope:
            account.scoped[tag] = account.scoped.get(tag, Decimal(0)) - self.amount


class KarmaStaked(AggregateEvent):
    amount: Decimal = Field(gt=0)
    task_id: str

    def apply(self, account: KarmaAccount) -> None:
        account.balance -= self.amount
        account.escrow += self.amount
        account.stakes[self.task_id] = self.amount


class StakeReturned(AggregateEvent):
    amount: Decimal = Field(gt=0)
    task_id: str
    reason: str

    def apply(self, account: KarmaAccount) -> None:
        account.escrow -= self.amount
        account.balance += self.amount
        del account.stakes[self.task_id]


class StakeSlashed(AggregateEvent):
    amount: Decimal = Field(gt=0)
    task_id: str
    reason: str

    def apply(self, account: KarmaAccount) -> None:
        account.escrow -= self.amount
        account.slashed += self.amount
        del account.stakes[self.task_id]


class KarmaDecayed(AggregateEvent):
    amount: Decimal = Field(ge=0)
    scoped: dict[str, Decimal] = {}
    half_life_days: float
    since: datetime
    as_of: datetime

    def apply(self, account: KarmaAccount) -> None:
        account.balance -= self.amount
        account.decayed += self.amount
        for tag, amount in self.scoped.items():
            account.scoped[tag] -= amount
        account.decayed_until = self.as_of


class RatingUpdated(AggregateEvent):
    scope: str
    rating: float
    deviation: float
    volatility: float
    games: int = Field(ge=0)
    task_id: str | None = None

    def apply(self, account: KarmaAccount) -> None:
        account.ratings[self.scope] = [self.rating, self.deviation, self.volatility, self.games]


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

    def mint(self, amount: Decimal, *, reason: str, task_id: str | None,
             scope: tuple[str, ...], at: datetime, provenance: Provenance,
             formula: dict[str, Decimal] | None = None) -> None:
        self.trigger_event(KarmaMinted, amount=validate_amount(amount), reason=reason,
                           task_id=task_id, scope=scope, formula=formula or {},
                           timestamp=at, provenance=provenance)

    def burn(self, amount: Decimal, *, reason: str, task_id: str | None,
             scope: tuple[str, ...], at: datetime, provenance: Provenance,
             formula: dict[str, Decimal] | None = None) -> None:
        value = validate_amount(amount)
        if value > self.balance:
            raise InsufficientKarmaError(
                f"cannot burn {value} karma from {self.agent_id}: its available balance is "
                f"{self.balance}"
            )
        self.trigger_event(KarmaBurned, amount=value, reason=reason, task_id=task_id,
                           scope=scope, formula=formula or {}, timestamp=at,
                           provenance=provenance)

    def burn_at_most(self, amount: Decimal, *, reason: str, task_id: str | None,
                     scope: tuple[str, ...], at: datetime, provenance: Provenance,
                     formula: dict[str, Decimal] | None = None) -> None:
        """A penalty takes what there is: the available balance caps it, and an empty
        account loses nothing (karma never goes below zero)."""
        if self.balance > 0:
            self.burn(min(amount, self.balance), reason=reason, task_id=task_id, scope=scope,
                      at=at, provenance=provenance, formula=formula)

    def stake(self, amount: Decimal, *, task_id: str, at: datetime,
              provenance: Provenance) -> None:
        value = validate_amount(amount)
        if task_id in self.stakes:
            raise DuplicateStakeError(f"{self.agent_id} already has a stake on task {task_id}")
        if value > self.balance:
            raise InsufficientKarmaError(
                f"task {task_id} needs a stake of {value} karma; {self.agent_id} has "
                f"{self.balance} available"
            )
        self.trigger_event(KarmaStaked, amount=value, task_id=task_id, timestamp=at,
                           provenance=provenance)

    def stake_on(self, task_id: str) -> Decimal | None:
        return self.stakes.get(task_id)

    def return_stake(self, task_id: str, reason: str, *, at: datetime,
                     provenance: Provenance) -> None:
        self.trigger_event(StakeReturned, amount=self.stakes[task_id], task_id=task_id,
                           reason=reason, timestamp=at, provenance=provenance)

    def slash_stake(self, task_id: str, reason: str, *, at: datetime,
                    provenance: Provenance) -> None:
        self.trigger_event(StakeSlashed, amount=self.stakes[task_id], task_id=task_id,
                           reason=reason, timestamp=at, provenance=provenance)

    def decay(self, *, factor: Decimal, half_life_days: float, as_of: datetime,
              at: datetime, provenance: Provenance) -> bool:
        """Decay the available and scoped balances from the last decay up to ``as_of``.
        A period already decayed is not decayed again: False, and nothing recorded."""
        if as_of <= self.decayed_until:
            return False
        amount = quantize(self.balance * (1 - factor))
        scoped = {tag: quantize(value * (1 - factor))
                  for tag, value in self.scoped.items() if value > 0}
        self.trigger_event(KarmaDecayed, amount=amount, scoped=scoped,
                           half_life_days=half_life_days, since=self.decayed_until,
                           as_of=as_of, timestamp=at, provenance=provenance)
        return True

    def rating(self, scope: str, initial: Rating) -> tuple[Rating, int]:
        if scope not in self.ratings:
            return initial, 0
        rating, deviation, volatility, games = self.ratings[scope]
        return Rating(rating, deviation, volatility), int(games)

    def rate(self, scope: str, rating: Rating, games: int, *, task_id: str | None,
             at: datetime, provenance: Provenance) -> None:
        self.trigger_event(RatingUpdated, scope=scope, rating=rating.rating,
                           deviation=rating.deviation, volatility=rating.volatility,
                           games=games, task_id=task_id, timestamp=at, provenance=provenance)

    @classmethod
    def restore_snapshot_state(cls, state: dict[str, Any]) -> dict[str, Any]:
        for key in ("balance", "minted", "burned", "escrow", "decayed", "slashed"):
            state[key] = Decimal(state[key])
        for key in ("scoped", "stakes"):
            state[key] = {k: Decimal(v) for k, v in state[key].items()}
        state["decayed_until"] = datetime.fromisoformat(state["decayed_until"])
        return state
