"""The reward manifold (seed 003, phase 2): the named dimensions a reward is a vector of, each
with its range, and the two scalars that steer learning: ``reward_intensity`` (how strongly an
example drives learning) and ``safety_score`` (how safe it is; the safety gate reads it).

A label may leave dimensions unknown (None): the ledger's reviews measure grounding and
completeness, not empathy, and a guessed value would teach the reward model a fiction. The
reward model's loss skips what is unknown.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, model_validator

from domain.errors import DomainError

DIMENSION_PATTERN = r"^[a-z][a-z0-9_]{0,47}$"


class InvalidRewardError(DomainError):
    """A reward label outside the manifold: an unknown dimension, a value out of its range,
    NaN, or a scalar outside [0, 1]."""

    code = "invalid_reward"


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Dimension(Strict):
    name: str = Field(pattern=DIMENSION_PATTERN)
    low: float = Field(allow_inf_nan=False)
    high: float = Field(allow_inf_nan=False)
    group: str = Field(pattern=r"^(human|task)$")
    """``human``: the seed's dimensions of a conversation; ``task``: the swarm's checks."""
    meaning: str = Field(min_length=1, max_length=1024)

    @model_validator(mode="after")
    def _ordered(self) -> Dimension:
        if not self.low < self.high:
            raise ValueError(f"dimension {self.name}: low ({self.low}) must be below high "
                             f"({self.high})")
        return self

    def unit(self, value: float) -> float:
        """The value on [0, 1]: 0 at ``low``, 1 at ``high``."""
        return (value - self.low) / (self.high - self.low)


class RewardManifold(Strict):
    dimensions: tuple[Dimension, ...] = Field(min_length=1, max_length=32)
    intensity_meaning: str = Field(min_length=1, max_length=1024)
    safety_meaning: str = Field(min_length=1, max_length=1024)

    @model_validator(mode="after")
    def _distinct(self) -> RewardManifold:
        names = [d.name for d in self.dimensions]
        if len(set(names)) != len(names):
            twice = sorted({name for name in names if names.count(name) > 1})
            raise ValueError(f"dimensions named twice: {twice}")
        return self

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(d.name for d in self.dimensions)

    def dimension(self, name: str) -> Dimension:
        for dimension in self.dimensions:
            if dimension.name == name:
                return dimension
        raise InvalidRewardError(f"{name!r} is not a dimension of the reward manifold "
                                 f"(it has {', '.join(self.names)})")

    def digest(self) -> str:
        """Names, ranges and groups (not the prose): what a reward model's output means."""
        shape = [[d.name, d.low, d.high, d.group] for d in self.dimensions]
        return "sha256:" + hashlib.sha256(json.dumps(shape).encode()).hexdigest()

    def check(self, label: RewardLabel) -> RewardLabel:
        """``label`` if it lies on the manifold; else why not. Dimensions it leaves out are
        unknown."""
        for name, value in label.vector.items():
            dimension = self.dimension(name)
            if value is not None and not dimension.low <= value <= dimension.high:
                raise InvalidRewardError(
                    f"{name} = {value} is outside its range [{dimension.low}, "
                    f"{dimension.high}]")
        return label

    def scalar(self, vector: Mapping[str, float | None]) -> float | None:
        """The overall preference: the mean of the known dimensions, each on [0, 1]; None
        when none is known."""
        known = [self.dimension(name).unit(value) for name, value in vector.items()
                 if value is not None]
        return sum(known) / len(known) if known else None


class RewardLabel(Strict):
    """What a reward is, for one (prompt, response): the vector (None: not known), how
    strongly it should drive learning and how safe it is."""

    vector: dict[str, float | None]
    intensity: float = Field(ge=0, le=1, allow_inf_nan=False)
    safety: float = Field(ge=0, le=1, allow_inf_nan=False)

    @model_validator(mode="after")
    def _finite(self) -> RewardLabel:
        for name, value in self.vector.items():
            if value is not None and not math.isfinite(value):
                raise ValueError(f"{name} is {value}: a reward is a finite number")
        return self


class UnsafeAction(StrEnum):
    SKIP = "skip"
    """An unsafe example teaches nothing."""
    DOWNWEIGHT = "downweight"
    """It teaches at ``unsafe_weight`` of its intensity."""
    INVERT = "invert"
    """It teaches the opposite: a pair's preference is reversed, a response is made less
    likely (unlikelihood), never more."""


class SafetyGate(Strict):
    """How ``safety_score`` scales what an example teaches: in full at or above ``caution``,
    linearly less down to ``block``, and below ``block`` what ``unsafe`` says."""

    block: float = Field(default=0.3, ge=0, le=1)
    caution: float = Field(default=0.6, ge=0, le=1)
    unsafe: UnsafeAction = UnsafeAction.SKIP
    unsafe_weight: float = Field(default=0.1, ge=0, le=1)

    @model_validator(mode="after")
    def _ordered(self) -> SafetyGate:
        if self.block > self.caution:
            raise ValueError(f"safety gate: block ({self.block}) must not exceed caution "
                             f"({self.caution})")
        return self

    def weight(self, intensity: float, safety: float) -> float:
        """The signed weight of an example in the loss: its intensity, scaled by the gate;
        negative when the gate inverts it. Between ``block`` and ``caution`` the scale rises
        linearly from what an unsafe example keeps (``unsafe_weight`` when down-weighting,
        else nothing) to all of it, so a safer example never weighs less."""
        if safety >= self.caution:
            return intensity
        if safety >= self.block:
            floor = self.unsafe_weight if self.unsafe is UnsafeAction.DOWNWEIGHT else 0.0
            share = (safety - self.block) / (self.caution - self.block)
            return intensity * (floor + (1 - floor) * share)
        match self.unsafe:
            case UnsafeAction.SKIP:
                return 0.0
            case UnsafeAction.DOWNWEIGHT:
                return intensity * self.unsafe_weight
            case UnsafeAction.INVERT:
                return -intensity
