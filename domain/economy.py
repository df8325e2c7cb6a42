"""The karma economy's policy and the arithmetic it prescribes. Pure: no I/O, no clock.

Reward for a reviewed task:  Δ = base × quality − (time penalty + resource penalty),
scaled by the agent's rating deviation (newcomers move faster, veterans slower).
"""

from __future__ import annotations

import hashlib
import math
from datetime import datetime
from decimal import Decimal

import orjson
from pydantic import BaseModel, ConfigDict, Field

from domain.base import Provenance
from domain.karma import GLOBAL_SCOPE, KarmaAccount, quantize
from domain.rating import Game, Rating
from domain.tasks import Task

NonNegative = Field(ge=0, allow_inf_nan=False)


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class RewardRule(_Section):
    base_rewards: dict[str, Decimal] = {}
    """Base reward per task type; a type not listed uses ``default_base``."""
    default_base: Decimal = Field(default=Decimal(1), ge=0)
    time_penalty_per_second: Decimal = Field(default=Decimal("0.01"), ge=0)
    token_penalty_per_1k: Decimal = Field(default=Decimal("0.05"), ge=0)
    cpu_penalty_per_second: Decimal = Field(default=Decimal("0.01"), ge=0)
    success_quality: Decimal = Field(default=Decimal("0.5"), ge=0, le=Decimal("1.5"))
    """A review at or above this quality is a success (a staked task gets its stake back)."""


class StakingRule(_Section):
    required_from_base: Decimal = Field(default=Decimal(5), ge=0)
    """Tasks whose base reward is at least this require a stake..."""
    fraction_of_base: Decimal = Field(default=Decimal("0.5"), ge=0, le=10)
    """...of this fraction of their base reward."""


class DecayRule(_Section):
    half_life_days: float = Field(default=30.0, gt=0, allow_inf_nan=False)


class VolatilityRule(_Section):
    tau: float = Field(default=0.5, gt=0, allow_inf_nan=False)
    initial_deviation: float = Field(default=350.0, gt=0, allow_inf_nan=False)
    initial_volatility: float = Field(default=0.06, gt=0, allow_inf_nan=False)
    task_deviation: float = Field(default=100.0, gt=0, allow_inf_nan=False)
    """A review is a game against the task, rated 1500 with this deviation."""
    reference_deviation: float = Field(default=200.0, gt=0, allow_inf_nan=False)
    min_scale: float = Field(default=0.5, gt=0, allow_inf_nan=False)
    max_scale: float = Field(default=1.75, gt=0, allow_inf_nan=False)


class SchedulerRule(_Section):
    exploration: float = Field(default=1.0, ge=0, allow_inf_nan=False)
    """Weight of the bonus for agents with few reviewed tasks (UCB1-style)."""


class PeerReviewRule(_Section):
    vote: Decimal = Field(default=Decimal("0.1"), gt=0)


class KnowledgeRule(_Section):
    """What the KARMA graph agents earn and lose."""

    triple_accepted: Decimal = Field(default=Decimal("0.2"), ge=0)
    """The Extractor earns this times the triple's score for each triple accepted..."""
    triple_rejected: Decimal = Field(default=Decimal("0.05"), ge=0)
    """...and loses this for each one rejected."""
    validation_held: Decimal = Field(default=Decimal("0.1"), ge=0)
    """The Validator earns this for each triple it accepts..."""
    validation_overturned: Decimal = Field(default=Decimal("0.3"), ge=0)
    """...and loses this when one of its acceptances is later superseded by a contradiction."""


class EconomyPolicy(_Section):
    name: str = "default"
    version: int = 1
    tags: tuple[str, ...] = ()
    """The scope tags tasks may carry; empty allows any tag."""
    reward: RewardRule = RewardRule()
    staking: StakingRule = StakingRule()
    decay: DecayRule = DecayRule()
    volatility: VolatilityRule = VolatilityRule()
    scheduler: SchedulerRule = SchedulerRule()
    peer_review: PeerReviewRule = PeerReviewRule()
    knowledge: KnowledgeRule = KnowledgeRule()

    def digest(self) -> str:
        canonical = orjson.dumps(self.model_dump(mode="json"), option=orjson.OPT_SORT_KEYS)
        return "sha256:" + hashlib.sha256(canonical).hexdigest()

    def base_reward(self, task_type: str) -> Decimal:
        return self.reward.base_rewards.get(task_type, self.reward.default_base)

    def stake_for(self, base_reward: Decimal) -> Decimal:
        if base_reward <= 0 or base_reward < self.staking.required_from_base:
            return Decimal(0)
        return quantize(base_reward * self.staking.fraction_of_base)

    def unknown_tags(self, tags: tuple[str, ...] | list[str]) -> list[str]:
        return [tag for tag in tags if self.tags and tag not in self.tags]

    def initial_rating(self) -> Rating:
        """Where an agent's standing starts in a scope it never played in."""
        return Rating(1500.0, self.volatility.initial_deviation,
                      self.volatility.initial_volatility)

    def review_succeeded(self, quality: Decimal) -> bool:
        return quality >= self.reward.success_quality

    def peer_vote(self, up: bool) -> Decimal:
        """The karma a peer's vote moves: the policy's vote, up or down."""
        return self.peer_review.vote if up else -self.peer_review.vote


class RewardBreakdown(BaseModel):
    """The formula's inputs and result, recorded with the karma entry it caused."""

    model_config = ConfigDict(frozen=True)

    base: Decimal
    quality: Decimal
    time_penalty: Decimal
    resource_penalty: Decimal
    scale: Decimal
    delta: Decimal


def reward(policy: EconomyPolicy, base: Decimal, quality: Decimal, duration_ms: int,
           tokens: int, cpu_ms: int, deviation: float) -> RewardBreakdown:
    rule = policy.reward
    time_penalty = rule.time_penalty_per_second * Decimal(duration_ms) / 1000
    resource_penalty = (rule.token_penalty_per_1k * Decimal(tokens) / 1000
                        + rule.cpu_penalty_per_second * Decimal(cpu_ms) / 1000)
    scale = Decimal(str(round(deviation_scale(policy, deviation), 6)))
    delta = quantize((base * quality - time_penalty - resource_penalty) * scale)
    return RewardBreakdown(base=base, quality=quality, time_penalty=quantize(time_penalty),
                           resource_penalty=quantize(resource_penalty), scale=scale, delta=delta)


def deviation_scale(policy: EconomyPolicy, deviation: float) -> float:
    rule = policy.volatility
    return min(rule.max_scale, max(rule.min_scale, deviation / rule.reference_deviation))


def review_game(policy: EconomyPolicy, quality: Decimal) -> Game:
    """A review as a Glicko-2 game: scored quality / 1.5 against the task."""
    return Game(Rating(1500.0, policy.volatility.task_deviation), float(quality) / 1.5)


def decay_factor(half_life_days: float, elapsed_seconds: float) -> float:
    return math.pow(0.5, elapsed_seconds / (half_life_days * 86400))


def decay_account(policy: EconomyPolicy, account: KarmaAccount, *, as_of: datetime,
                  at: datetime, provenance: Provenance) -> bool:
    """Decay the account by the policy's half-life from its last decay up to ``as_of``;
    False when that period was already decayed."""
    half_life = policy.decay.half_life_days
    elapsed = max((as_of - account.decayed_until).total_seconds(), 0.0)
    factor = Decimal(str(decay_factor(half_life, elapsed)))
    return account.decay(factor=factor, half_life_days=half_life, as_of=as_of, at=at,
                         provenance=provenance)


def review_reward(policy: EconomyPolicy, account: KarmaAccount, task: Task,
                  quality: Decimal) -> RewardBreakdown:
    """The formula on the task's recorded usage, scaled by the deviation of the assignee's
    global rating before this review counts."""
    standing, _ = account.rating(GLOBAL_SCOPE, policy.initial_rating())
    duration_ms, tokens, cpu_ms = task.usage or (0, 0, 0)
    return reward(policy, task.base_reward, quality, duration_ms, tokens, cpu_ms,
                  standing.deviation)


def settle_review(policy: EconomyPolicy, account: KarmaAccount, task: Task, quality: Decimal,
                  *, at: datetime, provenance: Provenance) -> RewardBreakdown:
    """A task's first review settles it on its assignee's account: the stake comes back on a
    success and is slashed on a failure, the formula's delta is minted (or burned, as far as
    the balance goes), and the review counts as a rated game globally and in each tag.
    The order of the entries is part of the ledger: replays and digests depend on it."""
    breakdown = review_reward(policy, account, task, quality)
    succeeded = policy.review_succeeded(quality)
    outcome = "succeeded" if succeeded else "failed review"
    account.release_stake(task.task_id, returned=succeeded,
                          reason=f"task {task.task_id} {outcome} (quality {quality})",
                          at=at, provenance=provenance)
    account.credit(breakdown.delta, reason=f"review of task {task.task_id}",
                   task_id=task.task_id, scope=task.tags, formula=breakdown.model_dump(),
                   at=at, provenance=provenance)
    account.record_game(review_game(policy, quality), (GLOBAL_SCOPE, *task.tags),
                        initial=policy.initial_rating(), tau=policy.volatility.tau,
                        task_id=task.task_id, at=at, provenance=provenance)
    return breakdown
