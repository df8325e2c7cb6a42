"""The dual-channel trainer (seed 003, phase 5.5): one LoRA adapter on the frozen host learns
from two channels at once,

    L = w_sft * L_sft + w_pref * L_pref

where L_sft is the answer's mean token cross-entropy (memory) and L_pref is DPO's loss on
(chosen, rejected) against the frozen host as reference (reward shaping). Each example weighs
its ``reward_intensity`` scaled by the safety gate (``domain.reward.SafetyGate``); an inverted
example teaches the opposite (the pair reversed; unlikelihood for a response). TRL combines
DPO and SFT losses but has no per-example weights, hence this loop of our own.

Before an update is applied its health is measured and gated (``domain.rhi``): DCS from the
Gram matrix of the reward dimensions' gradients over a few of the batch's items, GVS from the
variance of recent gradient norms. The ledger decides (``gate``): apply, skip, roll back the
previous update, or freeze until the measure recovers.
"""

from __future__ import annotations

import math
import random
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from adapters.lora_host import OrganelleHost
from domain.reward import RewardManifold, SafetyGate
from domain.rhi import (
    FastDecision,
    dcs_from_gram,
    gradient_variance_index,
    gvs,
    partial_rhi,
)
from learning.config import DualConfig

ADAPTER = "policy"


@dataclass(frozen=True)
class SftItem:
    prompt: str
    response: str
    weight: float
    """Signed: intensity scaled by the safety gate; negative means learn away from it."""
    direction: tuple[float, ...]
    """Each reward dimension's push on this example (its unit score, centred per batch)."""


@dataclass(frozen=True)
class PairItem:
    prompt: str
    chosen: str
    rejected: str
    weight: float
    direction: tuple[float, ...]
    """Each reward dimension's difference, chosen minus rejected, on the unit scale: the
    way that dimension wants the margin to move."""


@dataclass
class TrainingOutcome:
    decisions: Counter[str] = field(default_factory=Counter)
    losses: list[float] = field(default_factory=list)
    """The loss of every applied update, in order: the run's trajectory."""
    partials: list[float] = field(default_factory=list)


Gate = Callable[[dict[str, Any]], FastDecision]
"""Records an update's measures in the ledger and returns its decision."""


def cut(prompt: str, limit: int) -> str:
    """The prompt's last ``limit`` characters: the instruction ends a prompt here."""
    return prompt if len(prompt) <= limit else prompt[-limit:]


class DualChannelTrainer:
    def __init__(self, host: OrganelleHost, config: DualConfig, *, learning_rate: float,
                 gate: Gate) -> None:
        import torch
        from accelerate import Accelerator

        self.host, self.config, self.gate = host, config, gate
        self.learning_rate = learning_rate
        # accelerate picks the device (a GPU when there is one, else the CPU) and runs the
        # backward pass as the device needs: the same code on a laptop and on a GPU node.
        self.accelerator = Accelerator()
        host.place(self.accelerator.device)
        self.optimiser = torch.optim.AdamW(host.weights(ADAPTER), lr=learning_rate,
                                           weight_decay=0.0)
        self._norms: list[float] = []
        self._undo: dict[str, Any] | None = None
        """The adapter before the last applied update: what a rollback restores (once)."""
        self._rng = random.Random(config.seed)

    def run(self, examples: Sequence[SftItem], pairs: Sequence[PairItem]) -> TrainingOutcome:
        outcome = TrainingOutcome()
        for _ in range(self.config.steps):
            batch_sft = self._draw(examples, self.config.sft_batch)
            batch_pairs = self._draw(pairs, self.config.pair_batch)
            if not batch_sft and not batch_pairs:
                break
            self.step(batch_sft, batch_pairs, outcome)
        return outcome

    def _draw(self, items: Sequence[Any], size: int) -> list[Any]:
        live = [item for item in items if item.weight != 0]  # skipped by the safety gate
        return self._rng.sample(live, min(size, len(live))) if live and size else []

    def channel_weights(self, sft: bool, pref: bool) -> tuple[float, float]:
        """The channels' weights; a channel without data this step gives its weight to the
        other, so the step moves as far as a full one would."""
        w_sft, w_pref = self.config.sft_weight, self.config.preference_weight
        if not pref:
            return w_sft + w_pref, 0.0
        if not sft:
            return 0.0, w_sft + w_pref
        return w_sft, w_pref

    def step(self, sft: list[SftItem], pairs: list[PairItem],
             outcome: TrainingOutcome) -> FastDecision:
        import torch

        w_sft, w_pref = self.channel_weights(bool(sft), bool(pairs))
        with self.host.training(ADAPTER):
            objectives, directions = [], []
            sft_loss = pref_loss = None
            total = torch.zeros((), device=self.host.device)
            if sft:
                nll, objective = self._sft_terms(sft)
                sft_loss = nll
                total = total + w_sft * nll
                objectives += objective
                directions += [item.direction for item in sft]
            if pairs:
                loss, margins = self._preference_terms(pairs)
                pref_loss = loss
                total = total + w_pref * loss
                objectives = list(margins) + objectives  # pairs first: they carry preferences
                directions = [item.direction for item in pairs] + directions
            dcs = self._dcs(objectives, directions)
            self.optimiser.zero_grad()
            self.accelerator.backward(total)
            norm = math.sqrt(sum(float(p.grad.pow(2).sum()) for p in self.host.weights(ADAPTER)
                                 if p.grad is not None))
        self._norms = (self._norms + [norm])[-self.config.calibration.gvi_window:]
        gvi = gradient_variance_index(self._norms)
        stability = gvs(gvi, self.config.calibration.gvi_max)
        partial = partial_rhi(dcs, stability)
        decision = self.gate({
            "partial_rhi": partial, "dcs": dcs, "gvs": stability, "gvi": gvi,
            "loss": float(total.detach()), "sft_loss": _number(sft_loss),
            "preference_loss": _number(pref_loss), "learning_rate": self.learning_rate,
            "examples": len(sft), "pairs": len(pairs)})
        self._act(decision)
        outcome.decisions[decision.value] += 1
        outcome.partials.append(partial)
        if decision is FastDecision.APPLY:
            outcome.losses.append(float(total.detach()))
        return decision

    def _act(self, decision: FastDecision) -> None:
        if decision is FastDecision.APPLY:
            self._undo = self.host.keep(ADAPTER)
            with self.host.lock:
                self.optimiser.step()
        elif decision in (FastDecision.ROLLBACK, FastDecision.FREEZE) and self._undo:
            # The previous applied update is undone once; its optimiser moments go with it.
            self.host.restore(ADAPTER, self._undo)
            self._undo = None
            self.optimiser.state.clear()
        self.optimiser.zero_grad()

    def _sft_terms(self, items: list[SftItem]) -> tuple[Any, list[Any]]:
        """The weighted SFT loss and, per example, its mean log-likelihood (the objective
        whose gradient each reward dimension pushes along)."""
        import torch

        logp, tokens = self.host.answer_logprobs(
            ADAPTER, [(cut(i.prompt, self.config.max_prompt_chars), i.response) for i in items])
        mean_logp = logp / tokens.clamp(min=1)
        losses = []
        for item, value in zip(items, mean_logp, strict=True):
            if item.weight >= 0:
                losses.append(item.weight * -value)
            else:  # unlikelihood: make the response less likely, a bounded loss
                likelihood = torch.exp(value).clamp(max=1 - 1e-6)
                losses.append(-item.weight * -torch.log1p(-likelihood))
        return torch.stack(losses).mean(), list(mean_logp)

    def _preference_terms(self, items: list[PairItem]) -> tuple[Any, Any]:
        """DPO's loss, each pair weighted (an inverted pair counts reversed), and the margins
        beta * ((log pi - log ref)(chosen) - (log pi - log ref)(rejected))."""
        import torch
        import torch.nn.functional as F

        limit = self.config.max_prompt_chars
        texts = ([(cut(i.prompt, limit), i.chosen) for i in items]
                 + [(cut(i.prompt, limit), i.rejected) for i in items])
        policy, _ = self.host.answer_logprobs(ADAPTER, texts)
        with torch.no_grad():
            reference, _ = self.host.answer_logprobs(None, texts)
        ratio = policy - reference
        count = len(items)
        margins = self.config.beta * (ratio[:count] - ratio[count:])
        weights = torch.tensor([item.weight for item in items], device=margins.device)
        signed = torch.where(weights >= 0, margins, -margins)
        loss = (weights.abs() * -F.logsigmoid(signed)).mean()
        return loss, margins

    def _dcs(self, objectives: list[Any], directions: list[tuple[float, ...]]) -> float:
        """DCS over the reward dimensions: dimension d's gradient is sum_k C[d,k] grad o_k,
        so their Gram matrix is C (J J^T) C^T, with J J^T from one backward per item."""
        import torch

        items = min(len(objectives), self.config.calibration.dcs_items)
        if items < 1:
            return 1.0
        weights = self.host.weights(ADAPTER)
        flat = []
        for objective in objectives[:items]:
            grads = torch.autograd.grad(objective, weights, retain_graph=True,
                                        allow_unused=True)
            flat.append(torch.cat([(g if g is not None else torch.zeros_like(w)).flatten()
                                   for g, w in zip(grads, weights, strict=True)]))
        jacobian = torch.stack(flat)  # (K, params)
        item_gram = (jacobian @ jacobian.T).double().cpu()
        coefficients = torch.tensor([list(d) for d in directions[:items]],
                                    dtype=torch.float64).T  # (D, K)
        live = coefficients.abs().sum(dim=1) > 0  # a dimension nobody scored pushes nowhere
        coefficients = coefficients[live]
        if coefficients.shape[0] < 2:
            return 1.0
        gram = coefficients @ item_gram @ coefficients.T
        return dcs_from_gram(gram.tolist())


def _number(value: Any) -> float | None:
    return None if value is None else float(value.detach())


def sft_items(examples: Sequence[Any], scores: Sequence[Sequence[float]],
              gate: SafetyGate) -> list[SftItem]:
    """SFT items from recorded examples and the reward model's unit scores of each; a
    dimension's push on an example is its score less the examples' mean."""
    if not examples:
        return []
    dims = len(scores[0])
    means = [sum(row[d] for row in scores) / len(scores) for d in range(dims)]
    return [SftItem(e.prompt, e.response, gate.weight(e.intensity, e.safety),
                    tuple(row[d] - means[d] for d in range(dims)))
            for e, row in zip(examples, scores, strict=True)]


def pair_items(pairs: Sequence[Any], chosen: Sequence[Sequence[float]],
               rejected: Sequence[Sequence[float]], gate: SafetyGate) -> list[PairItem]:
    return [PairItem(p.prompt, p.chosen, p.rejected, gate.weight(p.intensity, p.safety),
                     tuple(c - r for c, r in zip(good, bad, strict=True)))
            for p, good, bad in zip(pairs, chosen, rejected, strict=True)]


def unit_scores(manifold: RewardManifold, vectors: Sequence[dict[str, float]],
                dimensions: Sequence[str]) -> list[list[float]]:
    """Each vector's ``dimensions`` on the unit scale, in that order."""
    return [[manifold.dimension(name).unit(vector[name]) for name in dimensions]
            for vector in vectors]


def known_dimensions(manifold: RewardManifold, samples: Sequence[Any]) -> list[str]:
    """The dimensions some label of ``samples`` knows, in the manifold's order: the only ones
    the reward model learned. The others' outputs are the untrained head's, and letting them
    push the gradients would measure noise as disagreement."""
    known = {name for sample in samples for name, value in sample.vector.items()
             if value is not None}
    return [name for name in manifold.names if name in known]
