"""Dual-channel learning's configuration: the reward manifold and the trainer's knobs, each in
one YAML file, every knob named and bounded. Unknown keys and impossible values are refused
with the reason before anything is written.

The defaults ship with the package (``configs/learning/``): a user runs ``karma learn`` from
any directory and gets the same manifold the documentation describes.
"""

from __future__ import annotations

import hashlib
import json
from importlib.resources import files
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from domain.reward import RewardManifold, SafetyGate
from domain.rhi import GateThresholds

Positive = Annotated[int, Field(ge=1)]
Weight = Annotated[float, Field(ge=0, le=10, allow_inf_nan=False)]
DEFAULTS = files("configs") / "learning"


class ConfigError(ValueError):
    """A configuration that cannot be run, with the reason."""


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Thresholds(Strict):
    """The RHI gate's thresholds (seed 003, phase 10), checked by ``GateThresholds``."""

    skip: float = 0.50
    rollback: float = 0.30
    freeze: float = 0.20
    consolidate: float = 0.70
    falls: Positive = 3
    rate_factor: float = 0.5

    @model_validator(mode="after")
    def _possible(self) -> Thresholds:
        self.gate()
        return self

    def gate(self) -> GateThresholds:
        return GateThresholds(**self.model_dump())


class Calibration(Strict):
    """Constants the health measures are normalised by, stored with every adapter."""

    gvi_max: float = Field(default=1.0, gt=0, allow_inf_nan=False)
    """The gradient-norm variance index (CV^2 over ``gvi_window`` updates) that scores 0."""
    gvi_window: Positive = 8
    dcs_items: Annotated[int, Field(ge=2, le=16)] = 4
    """Items of a batch whose per-dimension gradients DCS compares: each costs a backward."""


class Retrain(Strict):
    """When feedback has gathered enough new data to train again (seed 003, phase 7): either
    channel at its minimum, or both at ``share`` of theirs."""

    sft: Positive = 500
    pairs: Positive = 200
    share: float = Field(default=0.5, gt=0, le=1)
    auto: bool = False
    """Train and deploy (if the RHI allows) in the server's background when due."""

    def due(self, examples: int, pairs: int) -> bool:
        return (examples >= self.sft or pairs >= self.pairs
                or (examples >= self.share * self.sft and pairs >= self.share * self.pairs))


class DualConfig(Strict):
    learner: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_.-]{0,63}$")] = "default"
    training_set: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_.-]{0,63}$")] = "ledger"
    rank: Annotated[int, Field(ge=1, le=256)] = 8
    alpha: Annotated[int, Field(ge=1, le=512)] = 16
    steps: Positive = 20
    sft_batch: Annotated[int, Field(ge=0, le=64)] = 2
    pair_batch: Annotated[int, Field(ge=0, le=64)] = 2
    sft_weight: Weight = 1.0
    preference_weight: Weight = 1.0
    """The channels' weights in L = w_sft L_sft + w_pref L_pref; a channel with no data
    gives its weight to the other (the seed's dynamic weighting by availability)."""
    beta: Annotated[float, Field(gt=0, le=10, allow_inf_nan=False)] = 0.1
    """The preference loss's temperature (DPO's beta)."""
    learning_rate: Annotated[float, Field(gt=0, le=1, allow_inf_nan=False)] = 2e-4
    max_prompt_chars: Annotated[int, Field(ge=64, le=32_768)] = 1500
    """A prompt longer than this is cut from its start: its instruction and the passage's
    end stay; the cost of a step grows with it."""
    held_out: Annotated[float, Field(ge=0, le=0.5)] = 0.2
    """Share of pairs kept out of training (by digest) to measure the adapter on."""
    probe_prompts: Annotated[int, Field(ge=2, le=64)] = 6
    max_new_tokens: Annotated[int, Field(ge=4, le=512)] = 48
    safety: SafetyGate = SafetyGate()
    thresholds: Thresholds = Thresholds()
    calibration: Calibration = Calibration()
    retrain: Retrain = Retrain()
    seed: int = 0

    def digest(self) -> str:
        return "sha256:" + hashlib.sha256(
            json.dumps(self.model_dump(mode="json"), sort_keys=True).encode()).hexdigest()


def _read(path: Path | Any) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as error:
        raise ConfigError(f"cannot read {path}: {error}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path} must hold a mapping of settings")
    return data


def load_manifold(path: Path | None = None) -> RewardManifold:
    """The reward manifold of ``path``, or the one that ships with the package."""
    source = path or DEFAULTS / "manifold.yaml"
    try:
        return RewardManifold.model_validate(_read(source))
    except ValidationError as error:
        raise ConfigError(f"{source}: {error}") from None


def load_config(path: Path | None = None, **overrides: Any) -> DualConfig:
    """The trainer's configuration of ``path`` (or the packaged default), with overrides."""
    source = path or DEFAULTS / "dual.yaml"
    try:
        return DualConfig.model_validate({**_read(source), **overrides})
    except ValidationError as error:
        raise ConfigError(f"{source}: {error}") from None


def seed_prompts(path: Path | None = None) -> list[dict[str, str]]:
    """The shipped seed prompts of the seed's categories (and the ledger's own work)."""
    data = _read(path or DEFAULTS / "seed_prompts.yaml")
    return [item for items in data.get("categories", {}).values() for item in items]
