"""An ecology run's configuration: one YAML file, every knob named and bounded.

Unknown keys, unknown families and impossible values are refused with the reason before
anything is written: a typo in a long run's config would otherwise be silently ignored.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from domain.assimilation import MIN_HOLDOUT, AssimilationGate
from domain.energy import EnergyPolicy
from ecology.families import FAMILIES

Positive = Annotated[int, Field(ge=1)]
MAX_EPISODES = 480
"""Episodes of one organelle in one generation: recorded in one transaction with its work."""
Rate = Annotated[float, Field(ge=0, le=1)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class EnergyConfig(Strict):
    initial: Annotated[Decimal, Field(ge=0, allow_inf_nan=False)] = Decimal(10)
    ticket: Annotated[Decimal, Field(ge=0, allow_inf_nan=False)] = Decimal("0.5")
    cost_per_token: Annotated[Decimal, Field(ge=0, allow_inf_nan=False)] = Decimal("0.002")
    cost_per_second: Annotated[Decimal, Field(ge=0, allow_inf_nan=False)] = Decimal("0.05")
    base_price: Annotated[Decimal, Field(ge=0, allow_inf_nan=False)] = Decimal(1)
    price_slope: Annotated[Decimal, Field(ge=0, allow_inf_nan=False)] = Decimal(1)
    target_success: Annotated[Decimal, Field(ge=0, le=1)] = Decimal("0.5")
    cap: Annotated[Decimal, Field(ge=0, allow_inf_nan=False)] = Decimal(50)
    strikes_to_cull: Positive = 3
    topup_roi: Annotated[Decimal, Field(ge=0, allow_inf_nan=False)] = Decimal(0)
    topup_max: Annotated[Decimal, Field(ge=0, allow_inf_nan=False)] = Decimal(0)

    def policy(self) -> EnergyPolicy:
        return EnergyPolicy(**self.model_dump())


class RoutingConfig(Strict):
    cell_exploration: Annotated[float, Field(ge=0, le=10)] = 1.0
    organelle_choice: Literal["ucb", "thompson"] = "thompson"
    organelle_exploration: Annotated[float, Field(ge=0, le=10)] = 1.0


class LearningConfig(Strict):
    """Learning from checked rewards only: sample, keep what the checker passes, train on it
    (expert iteration). No labelled answer is ever shown to an organelle."""

    rank: Annotated[int, Field(ge=1, le=64)] = 8
    alpha: Annotated[int, Field(ge=1, le=128)] = 16
    learning_rate: Annotated[float, Field(gt=0, le=1)] = 1e-3
    samples_per_prompt: Annotated[int, Field(ge=1, le=32)] = 4
    temperature: Annotated[float, Field(gt=0, le=2)] = 0.8
    steps_per_generation: Annotated[int, Field(ge=0, le=100)] = 2
    max_new_tokens: Annotated[int, Field(ge=1, le=128)] = 16


class AssimilationConfig(Strict):
    threshold: Annotated[float, Field(ge=-1, le=1)] = 0.05
    alpha: Annotated[float, Field(gt=0, lt=1)] = 0.05
    min_samples: Annotated[int, Field(ge=2)] = 30
    holdout: Annotated[int, Field(ge=MIN_HOLDOUT)] = MIN_HOLDOUT
    every: Positive = 5
    """Generations between assimilation attempts."""

    def gate(self) -> AssimilationGate:
        return AssimilationGate(self.threshold, self.alpha, self.min_samples, self.holdout)


class BaselineConfig(Strict):
    """The same-compute supervised baseline, trained after the colony on labelled answers."""

    supervised: bool = True
    batch: Annotated[int, Field(ge=1, le=64)] = 8
    max_steps: Annotated[int, Field(ge=1, le=100_000)] = 10_000


class EcologyConfig(Strict):
    name: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9_-]*$")]
    seed: int = 0
    generations: Annotated[int, Field(ge=1, le=10_000)]
    population: Annotated[int, Field(ge=1, le=64)] = 4
    tasks_per_generation: Annotated[int, Field(ge=1, le=4096)] = 16
    families: Annotated[list[str], Field(min_length=1)]
    difficulties: Annotated[list[int], Field(min_length=1)] = [1]
    held_out_per_family: Annotated[int, Field(ge=MIN_HOLDOUT)] = MIN_HOLDOUT
    few_shot: Annotated[int, Field(ge=0, le=8)] = 2
    energy: EnergyConfig = EnergyConfig()
    routing: RoutingConfig = RoutingConfig()
    learning: LearningConfig = LearningConfig()
    assimilation: AssimilationConfig = AssimilationConfig()
    baseline: BaselineConfig = BaselineConfig()

    @field_validator("families")
    @classmethod
    def _known_families(cls, families: list[str]) -> list[str]:
        unknown = sorted(set(families) - set(FAMILIES))
        if unknown:
            raise ValueError(f"unknown families {unknown}; known: {sorted(FAMILIES)}")
        if len(set(families)) != len(families):
            raise ValueError("a family is listed twice")
        return families

    @model_validator(mode="after")
    def _one_transaction_per_organelle(self) -> EcologyConfig:
        episodes = self.tasks_per_generation * self.learning.samples_per_prompt
        if episodes > MAX_EPISODES:
            raise ValueError(f"tasks_per_generation x samples_per_prompt is {episodes}; an "
                             f"organelle's generation is one transaction of at most "
                             f"{MAX_EPISODES} episodes")
        return self

    @field_validator("difficulties")
    @classmethod
    def _known_difficulties(cls, difficulties: list[int]) -> list[int]:
        if not set(difficulties) <= {1, 2, 3}:
            raise ValueError(f"difficulties are 1, 2 or 3, not {sorted(set(difficulties))}")
        return sorted(set(difficulties))


class ConfigError(ValueError):
    """The config cannot run; the message says where and why."""


def load_config(path: Path) -> EcologyConfig:
    try:
        raw = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as error:
        raise ConfigError(f"cannot read {path}: {error}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path} holds no mapping of settings")
    try:
        config = EcologyConfig.model_validate(raw)
        config.energy.policy()  # the cross-field rules (initial within the cap, ...)
        config.assimilation.gate()
    except (ValidationError, ValueError) as error:
        raise ConfigError(f"{path}: {_described(error)}") from None
    return config


def _described(error: Exception) -> str:
    if isinstance(error, ValidationError):
        return "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'config'}: "
                         f"{e['msg'].removeprefix('Value error, ')}" for e in error.errors())
    return str(error)
