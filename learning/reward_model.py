"""The reward model of seed 003 (phase 4): (prompt, response) -> a reward vector on the
manifold, with ``reward_intensity`` and ``safety_score`` beside it and the scalar preference.

It is small on purpose, so it can be retrained whenever the ledger's labels grow: the frozen
MiniLM embeds both texts, and a two-layer head learns on top of [p, r, p*r, |p-r|] and four
lexical features that sentence embeddings blur but the task dimensions hinge on (are the
response's words and figures the prompt's? how long is it, how varied?).

Unknown dimensions (None) are masked out of the loss, never imputed: a review that measured
grounding says nothing about empathy, and a guessed value would be learnt as a fact. The head
still has an output for a dimension never known in training; its calibration (``known = 0``)
says to read that output as untrained.

A saved model is ``head.safetensors`` beside ``METADATA.json`` (manifold digest, dimensions,
calibration, training-data digest, date). It loads only against the manifold it was trained on,
and only when its tensors are the ones the metadata names.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from domain.errors import DomainError
from domain.reward import RewardLabel, RewardManifold
from domain.rubric import grounding, variety

EMBEDDER = "all-MiniLM-L6-v2"
EMBEDDING_WIDTH = 384
HIDDEN = 128
DROPOUT = 0.1
WEIGHT_DECAY = 0.01
HEAD_FILE = "head.safetensors"
METADATA_FILE = "METADATA.json"
STEERING = ("reward_intensity", "safety_score")
"""The two scalars the head predicts after the dimensions, in this order."""

NUMBER = re.compile(r"\d+(?:\.\d+)?%?")
"""A figure: digits, an optional decimal part, an optional percent sign."""
LEXICAL = ("share of the response's content words found in the prompt",
           "share of the response's numbers found in the prompt (1 when it has none)",
           "log1p(response words) / 5",
           "share of the response's words that are distinct")
FEATURE_LAYOUT = (f"prompt embedding ({EMBEDDING_WIDTH})",
                  f"response embedding ({EMBEDDING_WIDTH})",
                  f"prompt * response ({EMBEDDING_WIDTH})",
                  f"|prompt - response| ({EMBEDDING_WIDTH})", *(f"lexical: {f}" for f in LEXICAL))
FEATURE_WIDTH = 4 * EMBEDDING_WIDTH + len(LEXICAL)

Calibration = dict[str, float | int | None]
"""known, mae, pearson, target_mean, target_std: see RewardTraining."""


class Embedder(Protocol):
    """What the reward model needs of adapters.embeddings.MiniLMEmbedder."""

    model: str

    def embed(self, texts: Sequence[str]) -> list[list[float]]: ...


@dataclass(frozen=True)
class LabelledText:
    prompt: str
    response: str
    label: RewardLabel
    category: str = ""
    """Where the example came from (a task type, a seed prompt's theme); not a feature."""


@dataclass(frozen=True)
class RewardOutput:
    vector: dict[str, float]
    """Each dimension in its own range [low, high]."""
    intensity: float
    safety: float
    scalar: float
    """``manifold.scalar(vector)``: the mean of the dimensions on [0, 1]."""


@dataclass(frozen=True)
class RewardTraining:
    """What a training run did: the split, the losses per dimension (mean squared error on the
    unit scale, over known labels only; None where there were none) and the calibration.

    A calibration compares one output's predictions with the held-out labels, in the output's
    own units, over the known labels only: ``known`` (their count), ``mae``, ``pearson`` (None
    with fewer than 3 values or when either side is constant), ``target_mean`` and
    ``target_std`` (None when nothing is known)."""

    train_count: int
    validation_count: int
    train_losses: dict[str, float | None]
    """After the last epoch, without dropout."""
    validation_losses: dict[str, float | None]
    calibration: dict[str, Calibration]
    """Per dimension, on the validation split."""
    steering: dict[str, Calibration]
    """``reward_intensity`` and ``safety_score``, on the validation split."""
    losses: tuple[dict[str, float | None], ...]
    """Per epoch, the loss per dimension the optimiser saw (with dropout): the training log."""
    data_digest: str
    epochs: int
    seed: int
    learning_rate: float
    trained_at: datetime


def lexical_features(prompt: str, response: str) -> list[float]:
    """What the embeddings blur: whether the response's words and figures come from the prompt
    (the Reviewer's own grounding check, for the words), how long it is and how varied."""
    figures = set(NUMBER.findall(response))
    figures_from_prompt = (len(figures & set(NUMBER.findall(prompt))) / len(figures)
                           if figures else 1.0)
    return [grounding(response, prompt), figures_from_prompt,
            math.log1p(len(response.split())) / 5, variety(response)]


def split_key(prompt: str, response: str) -> str:
    """The sample's place in the split: a hash of its texts, so order and shuffling don't
    matter."""
    return hashlib.sha256(json.dumps([prompt, response]).encode()).hexdigest()


def in_validation(prompt: str, response: str, validation_share: float) -> bool:
    """Whether the sample is held out. It depends on the sample alone, not on what else is in
    the set: a retrain on more data never trains on what an earlier model was validated on."""
    return int(split_key(prompt, response)[:16], 16) / 16**16 < validation_share


def data_digest(samples: Sequence[LabelledText], manifold: RewardManifold) -> str:
    """sha256 over the sorted samples' prompt, response and label (every dimension named, None
    where unknown): the same data, however ordered or spelled, has the same digest."""
    rows = sorted(json.dumps([s.prompt, s.response, _label_json(s.label, manifold)],
                             sort_keys=True) for s in samples)
    hasher = hashlib.sha256()
    for row in rows:
        hasher.update(row.encode())
        hasher.update(b"\n")
    return "sha256:" + hasher.hexdigest()


def _label_json(label: RewardLabel, manifold: RewardManifold) -> dict[str, Any]:
    return {"vector": {name: label.vector.get(name) for name in manifold.names},
            "intensity": label.intensity, "safety": label.safety}


def _head(outputs: int) -> Any:
    from torch import nn

    return nn.Sequential(nn.Linear(FEATURE_WIDTH, HIDDEN), nn.GELU(), nn.Dropout(DROPOUT),
                         nn.Linear(HIDDEN, outputs))


def _tensor_digest(tensors: dict[str, Any]) -> str:
    """sha256 over the tensors in name order: the same weights, the same id."""
    hasher = hashlib.sha256()
    for name, tensor in sorted(tensors.items()):
        hasher.update(name.encode())
        hasher.update(tensor.detach().float().contiguous().numpy().tobytes())
    return "sha256:" + hasher.hexdigest()


def _features(embedder: Embedder, pairs: Sequence[tuple[str, str]]) -> Any:
    import torch

    # One embed call; a prompt shared by many responses is embedded once.
    texts = list(dict.fromkeys(text for pair in pairs for text in pair))
    vectors = embedder.embed(texts)
    if any(len(vector) != EMBEDDING_WIDTH for vector in vectors):
        raise ValueError(f"the embedder must give {EMBEDDING_WIDTH}-d vectors ({EMBEDDER})")
    embedded = dict(zip(texts, torch.tensor(vectors, dtype=torch.float32), strict=True))
    rows = []
    for prompt, response in pairs:
        p, r = embedded[prompt], embedded[response]
        lexical = torch.tensor(lexical_features(prompt, response), dtype=torch.float32)
        rows.append(torch.cat([p, r, p * r, (p - r).abs(), lexical]))
    return torch.stack(rows)


class RewardModel:
    """A trained head over the embedder, for one reward manifold."""

    def __init__(self, manifold: RewardManifold, embedder: Embedder, head: Any) -> None:
        self.manifold = manifold
        self.embedder = embedder
        self._head = head.eval()

    @property
    def digest(self) -> str:
        return _tensor_digest(self._head.state_dict())

    def score(self, prompt: str, response: str) -> RewardOutput:
        return self.score_many([(prompt, response)])[0]

    def score_many(self, pairs: Sequence[tuple[str, str]]) -> list[RewardOutput]:
        if not pairs:
            return []
        units = self._units(_features(self.embedder, pairs)).tolist()
        count = len(self.manifold.dimensions)
        outputs = []
        for row in units:
            vector = {d.name: d.low + unit * (d.high - d.low)
                      for d, unit in zip(self.manifold.dimensions, row[:count], strict=True)}
            scalar = self.manifold.scalar(vector)
            assert scalar is not None  # every dimension is given
            outputs.append(RewardOutput(vector=vector, intensity=row[count],
                                        safety=row[count + 1], scalar=scalar))
        return outputs

    def _units(self, features: Any) -> Any:
        """Every output on [0, 1]: the dimensions on their unit scale, then the two scalars."""
        import torch

        with torch.no_grad():
            return torch.sigmoid(self._head(features))

    def save(self, folder: Path, training: RewardTraining) -> str:
        """The head's tensors and METADATA.json in ``folder``; the digest that names them."""
        from safetensors.torch import save_file

        if set(training.calibration) != set(self.manifold.names):
            raise ValueError("this training record is for another manifold: its dimensions are "
                             f"{sorted(training.calibration)}, not {sorted(self.manifold.names)}")
        folder.mkdir(parents=True, exist_ok=True)
        tensors = {name: tensor.detach().contiguous()
                   for name, tensor in self._head.state_dict().items()}
        digest = _tensor_digest(tensors)
        save_file(tensors, str(folder / HEAD_FILE))
        metadata = {
            "digest": digest,
            "manifold_digest": self.manifold.digest(),
            "dimensions": [{"name": d.name, "low": d.low, "high": d.high, "group": d.group}
                           for d in self.manifold.dimensions],
            "reward_intensity": {"range": [0.0, 1.0],
                                 "meaning": self.manifold.intensity_meaning},
            "safety_score": {"range": [0.0, 1.0], "meaning": self.manifold.safety_meaning},
            "calibration": training.calibration,
            "steering_calibration": training.steering,
            "train_losses": training.train_losses,
            "validation_losses": training.validation_losses,
            "data_digest": training.data_digest,
            "train_count": training.train_count,
            "validation_count": training.validation_count,
            "epochs": training.epochs,
            "seed": training.seed,
            "learning_rate": training.learning_rate,
            "embedder": self.embedder.model,
            "features": {"width": FEATURE_WIDTH, "layout": list(FEATURE_LAYOUT)},
            "head": {"hidden": HIDDEN, "activation": "gelu", "dropout": DROPOUT,
                     "outputs": [*self.manifold.names, *STEERING],
                     "scale": "sigmoid; a dimension's [0, 1] is mapped onto [low, high]"},
            "trained_at": training.trained_at.isoformat(),
        }
        (folder / METADATA_FILE).write_text(json.dumps(metadata, indent=2, sort_keys=True))
        return digest

    @classmethod
    def load(cls, folder: Path, manifold: RewardManifold, embedder: Embedder) -> RewardModel:
        """The model saved in ``folder``, if it was trained on ``manifold`` and its tensors are
        the ones its metadata names."""
        from safetensors.torch import load_file

        metadata = json.loads((folder / METADATA_FILE).read_text())
        if metadata["manifold_digest"] != manifold.digest():
            raise ValueError(f"the reward model in {folder} was trained on another manifold "
                             f"({metadata['manifold_digest']}, not {manifold.digest()}): its "
                             "outputs would mean something else; train one for this manifold")
        if metadata["embedder"] != embedder.model:
            raise ValueError(f"the reward model in {folder} reads {metadata['embedder']} "
                             f"embeddings, not {embedder.model}")
        tensors = load_file(str(folder / HEAD_FILE))
        digest = _tensor_digest(tensors)
        if digest != metadata["digest"]:
            raise ValueError(f"the tensors in {folder / HEAD_FILE} have digest {digest}, not "
                             f"{metadata['digest']} as METADATA.json says: the file was changed")
        head = _head(len(manifold.dimensions) + len(STEERING))
        head.load_state_dict(tensors)
        return cls(manifold, embedder, head)


def train_reward_model(samples: Sequence[LabelledText], manifold: RewardManifold, *,
                       embedder: Embedder, seed: int, epochs: int = 200,
                       learning_rate: float = 3e-3, validation_share: float = 0.2,
                       trained_at: datetime) -> tuple[RewardModel, RewardTraining]:
    """A reward model for ``manifold`` trained on ``samples``, and what the training did.

    Full-batch AdamW from ``seed``: the same samples and seed give the same model. The loss is,
    per dimension, the mean squared error on the unit scale over the samples where it is known,
    summed over the dimensions known at all, plus the squared errors of intensity and safety."""
    import torch

    _refuse_bad_training(samples, manifold, epochs, learning_rate, validation_share)
    # Sorted by their split key, so the order they came in changes nothing.
    ordered = sorted(samples, key=lambda s: split_key(s.prompt, s.response))
    held = [in_validation(s.prompt, s.response, validation_share) for s in ordered]
    held_rows = [i for i, is_held in enumerate(held) if is_held]
    train_rows = [i for i, is_held in enumerate(held) if not is_held]
    held_out, train = [ordered[i] for i in held_rows], [ordered[i] for i in train_rows]
    if not train:
        raise ValueError(f"all {len(samples)} samples fell in the validation share "
                         f"({validation_share}): add samples or lower validation_share")
    if not any(v is not None for s in train for v in s.label.vector.values()):
        raise ValueError("no dimension is known in any sample of the training split: add "
                         "samples or lower validation_share")

    features = _features(embedder, [(s.prompt, s.response) for s in ordered])
    train_features, train_targets = features[train_rows], _targets(train, manifold)

    with torch.random.fork_rng(devices=[]):  # seed the head without resetting the caller's RNG
        torch.manual_seed(seed)
        head = _head(len(manifold.dimensions) + len(STEERING))
        optimiser = torch.optim.AdamW(head.parameters(), lr=learning_rate,
                                      weight_decay=WEIGHT_DECAY)
        history = []
        head.train()
        for _ in range(epochs):
            optimiser.zero_grad()
            per_dimension, counts, steering = _losses(torch.sigmoid(head(train_features)),
                                                      train_targets)
            (per_dimension.sum() + steering).backward()
            optimiser.step()
            history.append(_by_name(manifold, per_dimension, counts))
    model = RewardModel(manifold, embedder, head)

    final, final_counts, _ = _losses(model._units(train_features), train_targets)
    validation_losses: dict[str, float | None] = dict.fromkeys(manifold.names)
    calibration = {name: _calibration([], []) for name in manifold.names}
    steering_calibration = {name: _calibration([], []) for name in STEERING}
    if held_out:
        units = model._units(features[held_rows])
        targets = _targets(held_out, manifold)
        held, held_counts, _ = _losses(units, targets)
        validation_losses = _by_name(manifold, held, held_counts)
        calibration = _dimension_calibration(manifold, held_out, units)
        steering_calibration = {
            "reward_intensity": _calibration(units[:, -2].tolist(),
                                             [s.label.intensity for s in held_out]),
            "safety_score": _calibration(units[:, -1].tolist(),
                                         [s.label.safety for s in held_out])}
    return model, RewardTraining(
        train_count=len(train), validation_count=len(held_out),
        train_losses=_by_name(manifold, final, final_counts), validation_losses=validation_losses,
        calibration=calibration, steering=steering_calibration, losses=tuple(history),
        data_digest=data_digest(samples, manifold), epochs=epochs, seed=seed,
        learning_rate=learning_rate, trained_at=trained_at)


def _refuse_bad_training(samples: Sequence[LabelledText], manifold: RewardManifold, epochs: int,
                         learning_rate: float, validation_share: float) -> None:
    if not samples:
        raise ValueError("no samples to train a reward model on")
    if epochs < 1:
        raise ValueError(f"epochs must be at least 1, not {epochs}")
    if not learning_rate > 0:
        raise ValueError(f"the learning rate must be positive, not {learning_rate}")
    if not 0 <= validation_share < 1:
        raise ValueError(f"validation_share must be in [0, 1), not {validation_share}")
    for index, sample in enumerate(samples):
        try:
            manifold.check(sample.label)
        except DomainError as error:
            raise ValueError(f"sample {index} ({sample.prompt[:40]!r}...) has a label off the "
                             f"reward manifold: {error}") from error
    if not any(v is not None for s in samples for v in s.label.vector.values()):
        raise ValueError("no dimension is known in any sample: a reward model would learn "
                         "nothing but intensity and safety")


@dataclass(frozen=True)
class _Targets:
    units: Any
    """(samples, dimensions) on the unit scale; 0 where unknown (masked, never used)."""
    known: Any
    """(samples, dimensions): 1 where the label gives the dimension, else 0."""
    steering: Any
    """(samples, 2): intensity and safety."""


def _targets(samples: Sequence[LabelledText], manifold: RewardManifold) -> _Targets:
    import torch

    units, known = [], []
    for sample in samples:
        values = [sample.label.vector.get(name) for name in manifold.names]
        units.append([0.0 if v is None else d.unit(v)
                      for d, v in zip(manifold.dimensions, values, strict=True)])
        known.append([0.0 if v is None else 1.0 for v in values])
    steering = [[s.label.intensity, s.label.safety] for s in samples]
    return _Targets(torch.tensor(units), torch.tensor(known), torch.tensor(steering))


def _losses(units: Any, targets: _Targets) -> tuple[Any, Any, Any]:
    """Per dimension, the mean squared error over the known labels (0, with no gradient, where
    none is known), the count of known labels, and the steering scalars' mean squared error."""
    count = len(targets.known[0])
    # Multiplying by the mask zeroes an unknown label's error and its gradient alike.
    squared = (units[:, :count] - targets.units) ** 2 * targets.known
    counts = targets.known.sum(dim=0)
    per_dimension = squared.sum(dim=0) / counts.clamp(min=1)
    steering = ((units[:, count:] - targets.steering) ** 2).mean(dim=0).sum()
    return per_dimension, counts, steering


def _by_name(manifold: RewardManifold, per_dimension: Any,
             counts: Any) -> dict[str, float | None]:
    return {name: float(loss) if known else None
            for name, loss, known in zip(manifold.names, per_dimension.tolist(),
                                         counts.tolist(), strict=True)}


def _dimension_calibration(manifold: RewardManifold, samples: Sequence[LabelledText],
                           units: Any) -> dict[str, Calibration]:
    calibration = {}
    for column, dimension in enumerate(manifold.dimensions):
        predicted, labelled = [], []
        for row, sample in enumerate(samples):
            value = sample.label.vector.get(dimension.name)
            if value is not None:
                unit = float(units[row, column])
                predicted.append(dimension.low + unit * (dimension.high - dimension.low))
                labelled.append(value)
        calibration[dimension.name] = _calibration(predicted, labelled)
    return calibration


def _calibration(predicted: list[float], labelled: list[float]) -> Calibration:
    if not labelled:
        return {"known": 0, "mae": None, "pearson": None, "target_mean": None,
                "target_std": None}
    count = len(labelled)
    mean = sum(labelled) / count
    std = math.sqrt(sum((v - mean) ** 2 for v in labelled) / count)
    mae = sum(abs(p - v) for p, v in zip(predicted, labelled, strict=True)) / count
    return {"known": count, "mae": mae, "pearson": _pearson(predicted, labelled),
            "target_mean": mean, "target_std": std}


def _pearson(xs: list[float], ys: list[float]) -> float | None:
    if len(xs) < 3:
        return None
    mean_x, mean_y = sum(xs) / len(xs), sum(ys) / len(ys)
    covariance = sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True))
    spread_x = math.sqrt(sum((x - mean_x) ** 2 for x in xs))
    spread_y = math.sqrt(sum((y - mean_y) ** 2 for y in ys))
    if spread_x == 0 or spread_y == 0:
        return None
    return covariance / (spread_x * spread_y)
