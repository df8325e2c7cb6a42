"""Energy, the ecology's currency (seed 002): what an organelle earns by answering checked
tasks and spends on compute and on being alive, and when it starves.

Energy is kept apart from karma. Karma is reputation that decays slowly, is staked on work
and ranks agents across runs; energy is a metabolism that lives within one ecology run, is
charged every generation, is capped, and ends an organelle that cannot pay. Carrying it as a
karma scope would put a run's metabolism into the global balances, the leaderboards and
decay, and would load every organelle's episodes onto a long-lived karma account. So an
organelle holds a purse of its own (this module's rules, the ecology's events), in the same
ledger as everything else, and can still earn karma through the economy like any agent.

Amounts are Decimals with six places, as karma's are, so that conservation is exact.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from decimal import Decimal

from domain.errors import DomainError
from domain.karma import quantize

ZERO = Decimal(0)


class OrganelleCulledError(DomainError):
    """A culled organelle never acts again."""

    code = "organelle_culled"


@dataclass(frozen=True)
class EnergyPolicy:
    initial: Decimal = Decimal(10)
    """What a spawned organelle starts with."""
    ticket: Decimal = Decimal("0.5")
    """Charged to every living organelle each generation: the cost of being alive."""
    cost_per_token: Decimal = Decimal("0.002")
    cost_per_second: Decimal = Decimal("0.05")
    base_price: Decimal = Decimal(1)
    """Income per unit of reward at a cell whose success rate is at its target."""
    price_slope: Decimal = Decimal(1)
    target_success: Decimal = Decimal("0.5")
    """Below this success rate a cell pays more per reward: the hard cells draw work."""
    cap: Decimal = Decimal(50)
    """Energy above the cap is not kept: hoarding buys nothing (recorded as overflow)."""
    strikes_to_cull: int = 3
    """Consecutive charges an organelle could not pay in full before it is culled."""
    topup_roi: Decimal = ZERO
    """An organelle whose ROI (task income per unit of compute it was charged) reaches this
    is topped up towards its initial energy when it has less: a productive organelle that a
    run of hard cells left poor is not culled for it. 0 turns top-ups off."""
    topup_max: Decimal = ZERO
    """The most one top-up credits."""

    def __post_init__(self) -> None:
        amounts = (self.initial, self.ticket, self.cost_per_token, self.cost_per_second,
                   self.base_price, self.price_slope, self.cap, self.topup_roi,
                   self.topup_max)
        if any(not amount.is_finite() or amount < 0 for amount in amounts):
            raise ValueError("energy amounts must be finite and not negative")
        if not ZERO <= self.target_success <= 1:
            raise ValueError("target_success is a rate between 0 and 1")
        if self.initial > self.cap:
            raise ValueError(f"initial energy {self.initial} exceeds the cap {self.cap}")
        if self.strikes_to_cull < 1:
            raise ValueError("strikes_to_cull must be at least 1")

    def price(self, success_rate: float) -> Decimal:
        """Income per unit of reward at a cell that succeeds this often: rises as it falls."""
        below_target = self.target_success - Decimal(str(success_rate))
        return max(ZERO, quantize(self.base_price * (1 + self.price_slope * below_target)))

    def income(self, reward: float, success_rate: float) -> Decimal:
        return quantize(self.price(success_rate) * Decimal(str(reward)))

    def top_up(self, purse: Purse, roi: float | None) -> Decimal:
        """What a top-up credits an organelle with this purse and ROI (None: it has not
        worked yet): up to its initial energy, at most ``topup_max``, only at the ROI bar."""
        if (purse.culled or not self.topup_roi or roi is None
                or Decimal(str(roi)) < self.topup_roi):
            return ZERO
        return min(self.topup_max, max(ZERO, self.initial - purse.balance))

    def compute_cost(self, tokens: int, seconds: float) -> Decimal:
        return quantize(self.cost_per_token * tokens + self.cost_per_second *
                        Decimal(str(seconds)))


@dataclass(frozen=True)
class Purse:
    """An organelle's energy and its history in totals: ``initial + earned - spent -
    overflow == balance`` always holds, and nothing is ever negative."""

    balance: Decimal
    earned: Decimal = ZERO
    spent: Decimal = ZERO
    overflow: Decimal = ZERO
    """Income the cap turned away."""
    unpaid: Decimal = ZERO
    """Charges the purse could not cover (not spent: there was nothing to spend)."""
    strikes: int = 0
    culled: bool = False

    @classmethod
    def spawned(cls, policy: EnergyPolicy) -> Purse:
        return cls(balance=policy.initial)

    def credit(self, amount: Decimal, policy: EnergyPolicy) -> Purse:
        self._ensure_alive()
        _ensure_amount(amount)
        kept = min(amount, max(ZERO, policy.cap - self.balance))
        return replace(self, balance=self.balance + kept, earned=self.earned + kept,
                       overflow=self.overflow + amount - kept)

    def charge(self, amount: Decimal, policy: EnergyPolicy) -> Purse:
        """Take ``amount``, or all there is: a charge not paid in full is a strike, and the
        strikes in a row that the policy allows end in a cull; paying in full clears them."""
        self._ensure_alive()
        _ensure_amount(amount)
        paid = min(amount, self.balance)
        short = amount - paid
        strikes = self.strikes + 1 if short > 0 else 0
        return replace(self, balance=self.balance - paid, spent=self.spent + paid,
                       unpaid=self.unpaid + short, strikes=strikes,
                       culled=strikes >= policy.strikes_to_cull)

    def _ensure_alive(self) -> None:
        if self.culled:
            raise OrganelleCulledError("a culled organelle never acts again")


def _ensure_amount(amount: Decimal) -> None:
    if not amount.is_finite() or amount < 0:
        raise ValueError(f"an energy amount is finite and not negative, not {amount}")
