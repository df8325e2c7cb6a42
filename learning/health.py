"""The full Reward Health Index of a trained adapter (seed 003's slow loop): the run's own DCS
and GVS, and three measures taken after it.

- MSS: how far the reward manifold of the adapter's answers to fixed probe prompts drifted
  from its parent's (the RDMs of their reward vectors) and how much the run's loss curved.
- CDRS: on held-out pairs, grouped by category (the cross-domain part), how often the adapter
  prefers the rejected response, how unsure it is, and how even it is across categories.
- LRPS: whether the reward model's local score of a response predicts the outcome the ledger
  recorded for it (its review), over the held-out pairs' margins.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from adapters.lora_host import OrganelleHost
from domain.reward import RewardManifold
from domain.rhi import (
    DEFAULT_WEIGHTS,
    RhiComponents,
    cdrs,
    curvature_variance,
    lrps,
    mss,
    rdm,
    rdm_drift,
)
from learning.config import DualConfig
from learning.reward_model import RewardModel
from learning.trainer import ADAPTER, TrainingOutcome, cut, unit_scores


@dataclass(frozen=True)
class Health:
    components: RhiComponents
    calibration: dict[str, float]

    @property
    def rhi(self) -> float:
        return self.components.rhi(DEFAULT_WEIGHTS)


def measure(host: OrganelleHost, reward: RewardModel, manifold: RewardManifold,
            config: DualConfig, outcome: TrainingOutcome, gated: Sequence[dict[str, float]], *,
            parent: str | None, probes: Sequence[str], held_out: Sequence[Any],
            dimensions: Sequence[str]) -> Health:
    """``gated``: the run's recorded measures (dcs, gvs) per update; ``parent``: the adapter
    the run started from (None: the frozen host); ``held_out``: pairs it never trained on;
    ``dimensions``: those the reward model learned (the manifold's drift is measured on
    them)."""
    dcs = _mean([g["dcs"] for g in gated], default=1.0)
    gvs = _mean([g["gvs"] for g in gated], default=1.0)
    prompts = [cut(p, config.max_prompt_chars) for p in probes]
    before = _answers(host, parent, prompts, config)
    after = _answers(host, ADAPTER, prompts, config)
    drift = rdm_drift(rdm(_vectors(reward, manifold, dimensions, prompts, before)),
                      rdm(_vectors(reward, manifold, dimensions, prompts, after)))
    curvature = curvature_variance(outcome.losses)
    margins = _margins(host, config, held_out)
    by_category: dict[str, list[float]] = defaultdict(list)
    for pair, margin in zip(held_out, margins, strict=True):
        by_category[pair.category or "uncategorised"].append(margin)
    cross = cdrs(by_category) if margins else None
    predicted = [a.scalar - b.scalar for a, b in zip(
        reward.score_many([(p.prompt, p.chosen) for p in held_out]),
        reward.score_many([(p.prompt, p.rejected) for p in held_out]), strict=True)]
    predictivity = lrps(predicted, [p.margin for p in held_out])
    components = RhiComponents(dcs=dcs, gvs=gvs, mss=mss(drift, curvature),
                               cdrs=cross.score if cross else 0.0, lrps=predictivity)
    calibration = {"gvi_max": config.calibration.gvi_max,
                   "gvi_window": float(config.calibration.gvi_window),
                   "rdm_drift": drift, "curvature_variance": curvature,
                   "probes": float(len(prompts)), "held_out_pairs": float(len(held_out)),
                   **({"contradiction": cross.contradiction, "entropy": cross.entropy,
                       "consistency": cross.consistency} if cross else {})}
    return Health(components, calibration)


def _mean(values: Sequence[float], *, default: float) -> float:
    return sum(values) / len(values) if values else default


def _answers(host: OrganelleHost, adapter: str | None, prompts: Sequence[str],
             config: DualConfig) -> list[str]:
    samples = host.sample(adapter, prompts, max_new_tokens=config.max_new_tokens,
                          temperature=0.0, seed=config.seed)
    return [sample.text for sample in samples]


def _vectors(reward: RewardModel, manifold: RewardManifold, dimensions: Sequence[str],
             prompts: Sequence[str], answers: Sequence[str]) -> list[list[float]]:
    scored = reward.score_many(list(zip(prompts, answers, strict=True)))
    return unit_scores(manifold, [out.vector for out in scored], dimensions)


def _margins(host: OrganelleHost, config: DualConfig, pairs: Sequence[Any]) -> list[float]:
    """The adapter's preference margin on each pair, against the frozen host."""
    import torch

    margins: list[float] = []
    for start in range(0, len(pairs), 4):
        chunk = pairs[start:start + 4]
        texts = ([(cut(p.prompt, config.max_prompt_chars), p.chosen) for p in chunk]
                 + [(cut(p.prompt, config.max_prompt_chars), p.rejected) for p in chunk])
        with torch.no_grad(), host.lock:
            policy, _ = host.answer_logprobs(ADAPTER, texts)
            reference, _ = host.answer_logprobs(None, texts)
        ratio = policy - reference
        margins += (config.beta * (ratio[:len(chunk)] - ratio[len(chunk):])).tolist()
    return margins
