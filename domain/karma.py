"""A karma account: one per agent, the only place a balance is checked before it moves.

Available balance and escrow (stakes held for tasks) add up to what was minted, less what
was burned, decayed and slashed. Scoped balances follow the tags of the work that earned
them; ratings (Glicko-2, per scope) say how settled the agent's standing is. Amounts are
Decimals with at most six places, so sums are exact and a replay reproduces every digit.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from enum import StrEnum
from typing import Any

from pydantic import Field

from domain.base import Aggregate, AggregateCreated, AggregateEvent, Provenance
from domain.errors import DuplicateStakeError, InsufficientKarmaError, InvalidAmountError
from domain.rating import Game, Rating
from domain.rating import update as update_rating

AMOUNT_PLACES = 6
MAX_AMOUNT = Decimal(1_000_000)
GLOBAL_SCOPE = "global"
QUANTUM = Decimal(1).scaleb(-AMOUNT_PLACES)


def quantize(value: Decimal) -> Decimal:
    """Round to the six places an amount may have (banker's rounding: no drift in sums)."""
    return value.quantize(QUANTUM, rounding=ROUND_HALF_EVEN)


PLAIN_DECIMAL = re.compile(r"-?[0-9]{1,32}(?:\.[0-9]{1,32})?", re.ASCII)
"""How an amount is written: ASCII digits, an optional fraction, a minus at most. No spaces,
underscores, exponents, other scripts' digits, NaN or Infinity."""


def parse_amount(written: object, *, zero_allowed: bool = False) -> Decimal:
    """An amount as a client sends it, in its canonical form (six places, ``quantize``), or
    InvalidAmountError saying why not. Text must be plain decimal notation
    (``PLAIN_DECIMAL``); a whole number (int, as a JSON integer arrives) and a finite Decimal
    (from the server's own code) are values already. A float is refused: its decimal digits
    are not what the client wrote (``0.1``, ``1e6`` and ``1000000.0`` arrive alike)."""
    if isinstance(written, str):
        if not PLAIN_DECIMAL.fullmatch(written):
            raise InvalidAmountError(
                f"amount {written[:40]!r} is not written in plain decimal notation "
                "(digits 0-9, an optional fraction such as 2.5; no spaces, underscores or "
                "exponents)")
        value = Decimal(written)
    elif isinstance(written, int) and not isinstance(written, bool):
        value = Decimal(written)
    elif isinstance(written, Decimal):
        value = written
    elif isinstance(written, float):
        raise InvalidAmountError(
            f"amount {written!r} is a JSON number with a fraction or an exponent: send it as "
            "a string in plain decimal notation (\"2.5\"), so that it is kept to the digit")
    else:
        raise InvalidAmountError(f"amount {written!r} is not a number")
    if zero_allowed and value.is_finite():
        if value.is_zero():
            return quantize(abs(value))  # -0 too: one spelling of nothing
        if value < 0:
            raise InvalidAmountError(f"amount {written!r} must not be negative")
    return validate_amount(value)


def validate_amount(amount: Decimal | float | int | str) -> Decimal:
    """A movement of karma: finite, positive, at most MAX_AMOUNT, at most six decimal places;
    returned in its canonical form, kept to the six places (``1E+6`` is ``1000000.000000``)."""
    try:
        value = Decimal(str(amount))
    except (InvalidOperation, ValueError):
        raise InvalidAmountError(f"amount {amount!r} is not a number") from None
    if not value.is_finite():
        raise InvalidAmountError(f"amount {_shown(amount)} is not finite")
    if value <= 0:
        raise InvalidAmountError(f"amount {_shown(amount)} must be greater than zero")
    if value > MAX_AMOUNT:
        raise InvalidAmountError(f"amount {_shown(amount)} exceeds the maximum of {MAX_AMOUNT}")
    exponent = value.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -AMOUNT_PLACES:
        raise InvalidAmountError(
            f"amount {_shown(amount)} has more than {AMOUNT_PLACES} decimal places"
        )
    return quantize(value)


def _shown(amount: object) -> str:
    return f"{amount:f}" if isinstance(amount, Decimal) and amount.is_finite() else repr(amount)


class EntryKind(StrEnum):
    """The kinds of entry that move an account's karma, as the audit trail names them."""

    MINTED = "minted"
    BURNED = "burned"
    DECAYED = "decayed"
    STAKED = "staked"
    STAKE_RETURNED = "stake_returned"
    STAKE_SLASHED = "stake_slashed"


@dataclass(frozen=True)
class EntryEffect:
    """How an entry of one kind moves an account, as signs on its amount: the one place the
    arithmetic is written. The account's events, the views' SQL (generated from this table),
    provenance and the counterfactual replay all read it."""

    available: int
    escrow: int
    total: str | None
    """The running total the amount adds to: minted, burned, decayed or slashed."""
    scoped: int
    """On each tag of the entry's scope; decay says what it takes per tag itself."""
    earns: int
    """As earnings of the work: a stake escrowed and returned is no gain, a slash is a loss."""


ENTRY_EFFECTS: dict[EntryKind, EntryEffect] = {
    EntryKind.MINTED: EntryEffect(available=1, escrow=0, total="minted", scoped=1, earns=1),
    EntryKind.BURNED: EntryEffect(available=-1, escrow=0, total="burned", scoped=-1, earns=-1),
    EntryKind.DECAYED: EntryEffect(available=-1, escrow=0, total="decayed", scoped=0, earns=0),
    EntryKind.STAKED: EntryEffect(available=-1, escrow=1, total=None, scoped=0, earns=0),
    EntryKind.STAKE_RETURNED: EntryEffect(available=1, escrow=-1, total=None, scoped=0,
                                          earns=0),
    # A slash takes from escrow, which the stake already took from the available balance.
    EntryKind.STAKE_SLASHED: EntryEffect(available=0, escrow=-1, total="slashed", scoped=0,
                                         earns=-1),
}
TOTALS = ("minted", "burned", "decayed", "slashed")


def signed(kind: EntryKind | str, effect: str, amount: Decimal) -> Decimal:
    """The amount of an entry of ``kind`` as it moves ``effect`` (available, escrow, scoped,
    earns)."""
    return getattr(ENTRY_EFFECTS[EntryKind(kind)], effect) * amount


def _move(account: KarmaAccount, kind: EntryKind, amount: Decimal,
          scope: tuple[str, ...] = ()) -> None:
    effect = ENTRY_EFFECTS[kind]
    account.balance += effect.available * amount
    account.escrow += effect.escrow * amount
    if effect.total is not None:
        setattr(account, effect.total, getattr(account, effect.total) + amount)
    for tag in scope:
        account.scoped[tag] = account.scoped.get(tag, Decimal(0)) + effect.scoped * amount


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
        _move(account, EntryKind.MINTED, self.amount, self.scope)


class KarmaBurned(KarmaMovement):
    def apply(self, account: KarmaAccount) -> None:
        _move(account, EntryKind.BURNED, self.amount, self.scope)


class KarmaStaked(AggregateEvent):
    amount: Decimal = Field(gt=0)
    task_id: str

    def apply(self, account: KarmaAccount) -> None:
        _move(account, EntryKind.STAKED, self.amount)
        account.stakes[self.task_id] = self.amount


class StakeReturned(AggregateEvent):
    amount: Decimal = Field(gt=0)
    task_id: str
    reason: str

    def apply(self, account: KarmaAccount) -> None:
        _move(account, EntryKind.STAKE_RETURNED, self.amount)
        del account.stakes[self.task_id]


class StakeSlashed(AggregateEvent):
    amount: Decimal = Field(gt=0)
    task_id: str
    reason: str

    def apply(self, account: KarmaAccount) -> None:
        _move(account, EntryKind.STAKE_SLASHED, self.amount)
        del account.stakes[self.task_id]


class KarmaDecayed(AggregateEvent):
    amount: Decimal = Field(ge=0)
    scoped: dict[str, Decimal] = {}
    half_life_days: float
    since: datetime
    as_of: datetime

    def apply(self, account: KarmaAccount) -> None:
        _move(account, EntryKind.DECAYED, self.amount)
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


ENTRY_KIND_OF: dict[type[AggregateEvent], EntryKind] = {
    KarmaMinted: EntryKind.MINTED, KarmaBurned: EntryKind.BURNED,
    KarmaDecayed: EntryKind.DECAYED, KarmaStaked: EntryKind.STAKED,
    StakeReturned: EntryKind.STAKE_RETURNED, StakeSlashed: EntryKind.STAKE_SLASHED,
}
"""The event that records each kind of entry."""


class KarmaAccount(Aggregate):
    id_prefix = "karma"

    @property
    def earned(self) -> Decimal:
        """What the account's work earned for good, by each entry kind's ``earns`` sign."""
        return sum((item.earns * getattr(self, item.total) for item in ENTRY_EFFECTS.values()
                    if item.total is not None), Decimal(0))

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

    def credit(self, delta: Decimal, *, reason: str, task_id: str | None,
               scope: tuple[str, ...], at: datetime, provenance: Provenance,
               formula: dict[str, Decimal] | None = None) -> None:
        """Move a signed amount, as a reward or a peer vote prescribes: a gain is minted, a
        loss is a penalty burned as far as the balance goes, and zero records nothing."""
        if delta == 0:
            return
        move = self.mint if delta > 0 else self.burn_at_most
        move(abs(delta), reason=reason, task_id=task_id, scope=scope, at=at,
             provenance=provenance, formula=formula)

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

    def release_stake(self, task_id: str, *, returned: bool, reason: str, at: datetime,
                      provenance: Provenance) -> None:
        """End the stake held for a task: back to the available balance, or slashed. A task
        with no stake here (none required, or already released) records nothing, so every
        way a task ends may call this."""
        if self.stake_on(task_id) is None:
            return
        end = self.return_stake if returned else self.slash_stake
        end(task_id, reason, at=at, provenance=provenance)

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

    def games_in(self, scope: str = GLOBAL_SCOPE) -> int:
        """How many rated games (reviewed tasks) the agent played in the scope."""
        return self.rating(scope, Rating())[1]

    def karma_in(self, tags: tuple[str, ...] | list[str]) -> Decimal:
        """The karma that speaks for the agent on work tagged ``tags``: what it holds in those
        scopes together, or its available balance for untagged work."""
        if not tags:
            return self.balance
        return sum((self.scoped.get(tag, Decimal(0)) for tag in tags), Decimal(0))

    def record_game(self, game: Game, scopes: tuple[str, ...], *, initial: Rating, tau: float,
                    task_id: str | None, at: datetime, provenance: Provenance) -> None:
        """One Glicko-2 rating period with one game in each scope, in order; a scope never
        rated starts from ``initial``."""
        for scope in scopes:
            current, played = self.rating(scope, initial)
            self.rate(scope, update_rating(current, [game], tau), played + 1, task_id=task_id,
                      at=at, provenance=provenance)

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
