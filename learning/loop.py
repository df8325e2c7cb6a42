"""Dual-channel learning against the ledger: every step a command, every artifact on disk by
digest with its lineage, every decision re-decidable.

``train_reward`` fits the reward model on the training set's labelled samples;
``train`` runs the dual-channel trainer on its SFT examples and pairs, each update gated by the
ledger, then measures the adapter's full RHI; ``deploy`` serves it if that health allows
consolidation; ``roll_back`` restores exactly the adapter served before (its file checked
against its digest); ``replay`` re-decides a run's recorded gates under other thresholds.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from adapters.embeddings import MiniLMEmbedder
from adapters.gemma_host import LoraFile
from adapters.lora_host import LoraSettings, OrganelleHost
from adapters.tensor_digest import tensor_digest
from app.bootstrap import Container
from domain.errors import NotFoundError
from domain.learning import (
    AdapterTrained,
    Learner,
    PairFormed,
    RewardModelTrained,
    TrainingRunStarted,
    TrainingSet,
    UpdateGated,
)
from domain.reward import RewardLabel, RewardManifold
from domain.rhi import DEFAULT_WEIGHTS, FastDecision, GateThresholds, replay_fast
from handlers import commands as c
from learning import health
from learning.config import DualConfig
from learning.harvest import training_data
from learning.reward_model import LabelledText, RewardModel, train_reward_model
from learning.trainer import (
    ADAPTER,
    DualChannelTrainer,
    known_dimensions,
    pair_items,
    sft_items,
    unit_scores,
)

PARENT = "parent"


def learning_home(container: Container, learner: str) -> Path:
    return container.settings.home_path / "learning" / learner


def ensure_learner(container: Container, config: DualConfig, manifold: RewardManifold,
                   host_model: str) -> Learner:
    """The config's training set and learner, opened if they are new."""
    ledger, service = container.ledger, container.service
    if not _exists(container, TrainingSet.id_for(config.training_set)):
        service.execute(c.OpenTrainingSet(training_set=config.training_set,
                                          manifold=manifold.model_dump(mode="json")))
    if not _exists(container, Learner.id_for(config.learner)):
        service.execute(c.OpenLearner(learner=config.learner, host_model=host_model,
                                      training_set=config.training_set,
                                      learning_rate=config.learning_rate))
    return ledger.repository.get(Learner.id_for(config.learner))


def _exists(container: Container, aggregate_id: str) -> bool:
    return any(True for _ in container.ledger.events.get(aggregate_id, limit=1))


def load_learner(container: Container, name: str) -> Learner:
    if not _exists(container, Learner.id_for(name)):
        raise NotFoundError(f"no learner {name!r}: train one first (karma learn train)")
    return container.ledger.repository.get(Learner.id_for(name))


def manifold_of(container: Container, training_set: str) -> RewardManifold:
    if not _exists(container, TrainingSet.id_for(training_set)):
        raise NotFoundError(f"no training set {training_set!r}: harvest one first "
                            "(karma learn harvest)")
    return container.ledger.repository.get(TrainingSet.id_for(training_set)).manifold


@dataclass(frozen=True)
class RewardModelResult:
    digest: str
    path: Path
    samples: int
    validation: int
    losses: dict[str, float | None]


def train_reward(container: Container, config: DualConfig, *, epochs: int,
                 seed: int) -> RewardModelResult:
    manifold = manifold_of(container, config.training_set)
    ensure_learner(container, config, manifold, host_model="gemma-3-270m")
    data = training_data(container, config.training_set)
    samples = [LabelledText(s.prompt, s.response,
                            RewardLabel(vector=s.vector, intensity=s.intensity,
                                        safety=s.safety), s.category)
               for s in data.samples]
    model, training = train_reward_model(samples, manifold, embedder=MiniLMEmbedder(),
                                         seed=seed, epochs=epochs,
                                         trained_at=datetime.now(UTC))
    folder = learning_home(container, config.learner) / "reward" / model.digest[7:19]
    digest = model.save(folder, training)
    losses = dict(training.validation_losses)
    container.service.execute(c.RecordRewardModel(
        learner=config.learner, digest=digest, data_digest=training.data_digest,
        samples=training.train_count + training.validation_count,
        validation=training.validation_count, losses=losses,
        calibration={name: dict(values) for name, values in training.calibration.items()},
        path=str(folder)))
    return RewardModelResult(digest, folder, training.train_count + training.validation_count,
                             training.validation_count, losses)


def latest_reward_model(container: Container, learner: str, manifold: RewardManifold,
                        embedder: MiniLMEmbedder | None = None,
                        cached: RewardModel | None = None) -> RewardModel:
    """The learner's newest reward model, checked against the digest the ledger recorded;
    ``cached`` when it is that one already."""
    trained = [e for e in container.ledger.events.get(Learner.id_for(learner))
               if isinstance(e, RewardModelTrained)]
    if not trained:
        raise NotFoundError(f"learner {learner!r} has no reward model: run "
                            "karma learn train-reward first")
    if cached is not None and cached.digest == trained[-1].digest:
        return cached
    model = RewardModel.load(Path(trained[-1].path), manifold, embedder or MiniLMEmbedder())
    if model.digest != trained[-1].digest:
        raise ValueError(f"the reward model at {trained[-1].path} is {model.digest}, not the "
                         f"{trained[-1].digest} the ledger recorded")
    return model


@dataclass(frozen=True)
class RunSummary:
    run: str
    digest: str
    parent: str | None
    path: Path
    decisions: dict[str, int]
    rhi: float
    components: dict[str, float]
    slow_decision: str
    examples: int
    pairs: int
    held_out: int


def held_out(pair: PairFormed, share: float) -> bool:
    """Whether a pair is kept out of training: by its digest, so every run agrees."""
    return int(pair.pair_id[7:15], 16) / 0xFFFFFFFF < share


def train(container: Container, config: DualConfig, *, run: str,
          host: OrganelleHost | None = None, probes: Sequence[str] = ()) -> RunSummary:
    manifold = manifold_of(container, config.training_set)
    learner = ensure_learner(container, config, manifold, host_model="gemma-3-270m")
    reward = latest_reward_model(container, config.learner, manifold)
    data = training_data(container, config.training_set)
    kept = [p for p in data.pairs if held_out(p, config.held_out)]
    pairs = [p for p in data.pairs if not held_out(p, config.held_out)]
    if not data.examples and not pairs:
        raise NotFoundError(f"training set {config.training_set!r} has no SFT example and no "
                            "pair to train on: harvest reviewed work first")
    parent = learner.serving
    if parent is not None:  # before anything is recorded: a run that cannot start writes none
        shape = adapter_shape(container, config.learner, parent)
        if (shape.rank, shape.alpha) != (config.rank, config.alpha):
            raise ValueError(
                f"the serving adapter {parent} has rank {shape.rank} and alpha {shape.alpha}; "
                f"this config asks {config.rank} and {config.alpha}: a run continues the "
                "served adapter, so its shape must stay (roll back to the host to change it)")
    result = container.service.execute(c.StartTrainingRun(
        learner=config.learner, run=run, config=config.model_dump(mode="json"),
        base_digest=parent, reward_model=reward.digest, data_digest=data.digest,
        data={"examples": len(data.examples), "pairs": len(pairs), "held_out": len(kept)}))
    learning_rate = float(result.ids["learning_rate"])
    host = host or OrganelleHost(LoraSettings(rank=config.rank, alpha=config.alpha,
                                              learning_rate=learning_rate))
    _prepare(container, host, config, parent)
    gate = _Gate(container, config.learner, run)
    trainer = DualChannelTrainer(host, config, learning_rate=learning_rate, gate=gate)
    dimensions = known_dimensions(manifold, data.samples)
    examples = sft_items(data.examples, _units(reward, manifold, dimensions, [
        (e.prompt, e.response) for e in data.examples]), config.safety)
    chosen = _units(reward, manifold, dimensions, [(p.prompt, p.chosen) for p in pairs])
    rejected = _units(reward, manifold, dimensions, [(p.prompt, p.rejected) for p in pairs])
    outcome = trainer.run(examples, pair_items(pairs, chosen, rejected, config.safety))
    digest = host.digest(ADAPTER)
    folder = learning_home(container, config.learner) / "adapters" / digest[7:19]
    host.save(ADAPTER, folder, {"run": run, "parent": parent, "config": config.digest(),
                                "data": data.digest, "reward_model": reward.digest,
                                "decisions": dict(outcome.decisions),
                                "calibration": config.calibration.model_dump()})
    container.service.execute(c.RecordAdapter(
        learner=config.learner, run=run, digest=digest, parent=parent,
        decisions=dict(outcome.decisions), path=str(_saved(folder))))
    probe_prompts = list(probes) or [p.prompt for p in kept][:config.probe_prompts] or [
        e.prompt for e in data.examples][:config.probe_prompts]
    measured = health.measure(host, reward, manifold, config, outcome, gate.measures,
                              parent=PARENT if parent else None, probes=probe_prompts,
                              held_out=kept, dimensions=dimensions)
    components = {k: round(v, 6) for k, v in vars(measured.components).items()}
    slow = container.service.execute(c.MeasureRhi(
        learner=config.learner, run=run, digest=digest, rhi=round(measured.rhi, 6),
        components=components, weights=vars(DEFAULT_WEIGHTS),
        calibration=measured.calibration))
    return RunSummary(run, digest, parent, _saved(folder), dict(outcome.decisions),
                      measured.rhi, components, slow.ids["slow_decision"],
                      len(data.examples), len(pairs), len(kept))


class _Gate:
    """Sends each update's measures to the ledger and returns its decision."""

    def __init__(self, container: Container, learner: str, run: str) -> None:
        self.container, self.learner, self.run = container, learner, run
        self.measures: list[dict[str, float]] = []

    def __call__(self, measured: dict[str, Any]) -> FastDecision:
        self.measures.append(measured)
        result = self.container.service.execute(c.GateUpdate(
            learner=self.learner, run=self.run, **measured))
        return FastDecision(result.ids["decision"])


def _units(reward: RewardModel, manifold: RewardManifold, dimensions: Sequence[str],
           texts: list[tuple[str, str]]) -> list[list[float]]:
    if not texts:
        return []
    return unit_scores(manifold, [out.vector for out in reward.score_many(texts)], dimensions)


def _saved(folder: Path) -> Path:
    return folder / ADAPTER if (folder / ADAPTER).is_dir() else folder


def _prepare(container: Container, host: OrganelleHost, config: DualConfig,
             parent: str | None) -> None:
    """The policy adapter: the served one's weights when there is one (learning accumulates),
    else a fresh LoRA; and the parent kept beside it for the drift measure."""
    if ADAPTER not in host.adapters():
        host.spawn(ADAPTER, seed=config.seed)
    if parent is not None:
        data = adapter_bytes(container, config.learner, parent)
        host.load(ADAPTER, data, parent)
        host.load(PARENT, data, parent)


def adapter_shape(container: Container, learner: str, digest: str) -> LoraSettings:
    """The LoRA shape ``digest`` was trained with (its run's recorded configuration)."""
    events = list(container.ledger.events.get(Learner.id_for(learner)))
    trained = next((e for e in events if isinstance(e, AdapterTrained) and e.digest == digest),
                   None)
    if trained is None:
        raise NotFoundError(f"learner {learner!r} trained no adapter {digest}")
    started = next(e for e in events
                   if isinstance(e, TrainingRunStarted) and e.run == trained.run)
    return LoraSettings(rank=started.config["rank"], alpha=started.config["alpha"])


def adapter_path(container: Container, learner: str, digest: str) -> Path:
    for event in container.ledger.events.get(Learner.id_for(learner)):
        if isinstance(event, AdapterTrained) and event.digest == digest:
            return Path(event.path)
    raise NotFoundError(f"learner {learner!r} trained no adapter {digest}")


def adapter_bytes(container: Container, learner: str, digest: str) -> bytes:
    """The adapter's tensors as saved (safetensors), checked against ``digest``."""
    from safetensors.torch import load_file, save

    path = adapter_path(container, learner, digest) / "adapter_model.safetensors"
    tensors = load_file(str(path))
    found = tensor_digest(tensors)
    if found != digest:
        raise ValueError(f"the adapter file {path} holds {found}, not {digest}: it was "
                         "changed after it was recorded")
    return save(tensors)


def serving_adapter(container: Container, learner: str) -> LoraFile | None:
    """The adapter the learner serves, as a file checked against its digest (None: the
    frozen host): what ``karma research run --learner`` answers with."""
    digest = load_learner(container, learner).serving
    if digest is None:
        return None
    adapter_bytes(container, learner, digest)
    return LoraFile(adapter_path(container, learner, digest), digest)


def deploy(container: Container, learner: str, digest: str) -> bool:
    adapter_bytes(container, learner, digest)  # refuses a file that is not the one recorded
    result = container.service.execute(c.DeployAdapter(learner=learner, digest=digest))
    return result.ids["deployed"] == "true"


def roll_back(container: Container, learner: str, reason: str) -> str | None:
    """Withdraw the served adapter; returns the one restored (checked), None for the host."""
    current = load_learner(container, learner)
    if len(current.deployed) > 1:
        adapter_bytes(container, learner, current.deployed[-2])
    result = container.service.execute(c.RollBackAdapter(learner=learner, reason=reason))
    restored = result.ids["restored"]
    return None if restored == "frozen host" else restored


@dataclass(frozen=True)
class Redecision:
    step: int
    partial_rhi: float
    recorded: str
    redecided: str


def replay(container: Container, learner: str, run: str,
           thresholds: GateThresholds) -> list[Redecision]:
    """The run's recorded gates, re-decided under ``thresholds`` without training again."""
    gated = [e for e in container.ledger.events.get(Learner.id_for(learner))
             if isinstance(e, UpdateGated) and e.run == run]
    if not gated:
        raise NotFoundError(f"learner {learner!r} has no gated update in run {run!r}")
    again = replay_fast([e.partial_rhi for e in gated], thresholds)
    return [Redecision(e.step, e.partial_rhi, e.decision.value, d.value)
            for e, d in zip(gated, again, strict=True)]


def lineage(folder: Path) -> dict[str, Any]:
    return json.loads((folder / "lineage.json").read_text())
