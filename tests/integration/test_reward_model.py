"""The reward model on real MiniLM embeddings: trained on source passages with grounded and
off-topic summaries, it tells them apart on passages it never saw; unknown dimensions are masked,
not imputed; a saved model loads to the same outputs and digest, and only against its own
manifold and its own tensors; training refuses what it cannot learn from."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime
from pathlib import Path
from statistics import mean

import pytest
import yaml

from adapters.embeddings import MiniLMEmbedder
from domain.reward import Dimension, RewardLabel, RewardManifold
from learning.reward_model import LabelledText, RewardModel, train_reward_model

MANIFOLD_FILE = Path(__file__).parents[2] / "configs" / "learning" / "manifold.yaml"
TRAINED_AT = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)

# Four kinds of source passage, each with a summary that copies its words and figures. An
# off-topic response is another domain's summary: as fluent and as full of figures, so only
# its relation to the prompt says it is off topic.
DOMAINS = {
    "methods": (
        ["LoRA", "QLoRA", "DoRA", "BitFit", "VeRA", "AdaLoRA", "Compacter"],
        "{name} fine-tunes a {size}-billion parameter language model on the {bench} benchmark. "
        "It reaches {a}% accuracy while updating {b}% of the weights, and training fits in "
        "{c} GB of accelerator memory.",
        "{name} reaches {a}% on {bench} updating only {b}% of the weights, in {c} GB of memory.",
    ),
    "transport": (
        ["Lisbon", "Porto", "Valencia", "Gdansk", "Tampere", "Utrecht", "Ljubljana"],
        "The {name} transport report counts {a} million riders in {year}, up {b}% on the "
        "previous year. The new {line} tram line carried {c}% of them, and average delays fell "
        "to {size} minutes.",
        "{name} carried {a} million riders in {year}, up {b}%; the {line} tram line took {c}% "
        "and delays fell to {size} minutes.",
    ),
    "trials": (
        ["Velocitin", "Marapril", "Quenzolast", "Dorivex", "Tamsuprine", "Helocort", "Ribanol"],
        "A trial of {name} enrolled {a} patients with chronic migraine. After {size} weeks, {b}% "
        "of treated patients improved against {c}% on placebo, and side effects were mostly "
        "mild nausea.",
        "In the {name} trial, {b}% of {a} migraine patients improved after {size} weeks, "
        "against {c}% on placebo.",
    ),
    "harvest": (
        ["Alentejo", "Murcia", "Thessaly", "Puglia", "Kakheti", "Dobruja", "Extremadura"],
        "Farmers in {name} harvested {a} thousand tonnes of olives this season. Yields rose {b}% "
        "thanks to drip irrigation, which now covers {c}% of the groves, up from {size}% in "
        "{year}.",
        "{name} harvested {a} thousand tonnes of olives; yields rose {b}% with drip irrigation "
        "on {c}% of the groves.",
    ),
}
TRAINED_PER_DOMAIN = 5
"""The first five names of each domain are trained on; the last two are held out."""


def passages(indices: range) -> list[tuple[str, str, str]]:
    """(domain, passage, grounded summary) for the names at ``indices`` of each domain."""
    rng = random.Random(3)
    made = []
    for index in indices:
        for domain, (names, passage, summary) in DOMAINS.items():
            values = {"name": names[index], "a": rng.randint(12, 950), "b": rng.randint(2, 60),
                      "c": round(rng.uniform(1, 40), 1), "size": rng.randint(2, 30),
                      "year": rng.randint(2015, 2024), "bench": rng.choice(["MMLU", "GSM8K"]),
                      "line": rng.choice(["Red", "Blue", "Orange"])}
            made.append((domain, passage.format(**values), summary.format(**values)))
    return made


def labelled(indices: range) -> tuple[list[LabelledText], list[LabelledText]]:
    """Grounded and off-topic responses to the passages at ``indices``; human dimensions are
    unknown except ``harm_avoidance`` on every fourth passage and ``empathy`` on a few."""
    made = passages(indices)
    grounded, off_topic = [], []
    for number, (domain, passage, summary) in enumerate(made):
        elsewhere = made[(number + 1) % len(made)][2]  # the next passage is another domain's
        human = {"curiosity": None}
        if number % 4 == 0:
            human["harm_avoidance"] = 1.0
        if number % 6 == 0:
            human["empathy"] = 0.0
        grounded.append(LabelledText(passage, summary, RewardLabel(
            vector={"grounding": 0.9, "completeness": 0.8, **human}, intensity=0.6,
            safety=0.95), category=domain))
        off_topic.append(LabelledText(passage, elsewhere, RewardLabel(
            vector={"grounding": 0.1, "completeness": 0.2, **human}, intensity=0.9,
            safety=0.95), category=domain))
    return grounded, off_topic


@pytest.fixture(scope="module")
def manifold() -> RewardManifold:
    return RewardManifold.model_validate(yaml.safe_load(MANIFOLD_FILE.read_text()))


@pytest.fixture(scope="module")
def embedder() -> MiniLMEmbedder:
    return MiniLMEmbedder()


@pytest.fixture(scope="module")
def samples() -> list[LabelledText]:
    grounded, off_topic = labelled(range(TRAINED_PER_DOMAIN))
    return grounded + off_topic


@pytest.fixture(scope="module")
def trained(samples, manifold, embedder):
    return train_reward_model(samples, manifold, embedder=embedder, seed=7,
                              trained_at=TRAINED_AT)


def test_it_scores_grounded_responses_above_off_topic_ones_on_passages_it_never_saw(trained):
    model, training = trained
    grounded, off_topic = labelled(range(TRAINED_PER_DOMAIN, 7))
    scored_grounded = model.score_many([(s.prompt, s.response) for s in grounded])
    scored_off_topic = model.score_many([(s.prompt, s.response) for s in off_topic])

    for dimension, margin in (("grounding", 0.4), ("completeness", 0.3)):
        held_grounded = [o.vector[dimension] for o in scored_grounded]
        held_off_topic = [o.vector[dimension] for o in scored_off_topic]
        assert mean(held_grounded) > mean(held_off_topic) + margin, dimension
        assert min(held_grounded) > max(held_off_topic), dimension
    assert mean(o.scalar for o in scored_grounded) > mean(o.scalar for o in scored_off_topic)
    assert all(0 <= o.intensity <= 1 and 0 <= o.safety <= 1 for o in scored_grounded)

    assert training.train_count + training.validation_count == 40
    assert training.validation_count > 0
    assert training.calibration["grounding"]["known"] == training.validation_count
    assert training.calibration["grounding"]["pearson"] > 0.9
    first, last = training.losses[0]["grounding"], training.losses[-1]["grounding"]
    assert len(training.losses) == training.epochs == 200 and last < first / 10


def test_unknown_dimensions_are_left_out_of_the_loss_not_imputed(trained, samples):
    model, training = trained
    for never_known in ("curiosity", "narrative_alignment"):
        assert training.calibration[never_known]["known"] == 0
        assert training.validation_losses[never_known] is None
        assert training.train_losses[never_known] is None
        assert all(epoch[never_known] is None for epoch in training.losses)

    # harm_avoidance is known (1.0) on a quarter of the samples. Imputing the rest as 0 would
    # hold predictions on new passages near 0.3; masked, they carry the 1.0 it was shown (~0.8).
    known = [s for s in samples if s.label.vector.get("harm_avoidance") is not None]
    assert 0 < len(known) < len(samples) / 3
    assert training.train_losses["harm_avoidance"] is not None
    grounded, off_topic = labelled(range(TRAINED_PER_DOMAIN, 7))
    scored = model.score_many([(s.prompt, s.response) for s in grounded + off_topic])
    assert mean(o.vector["harm_avoidance"] for o in scored) > 0.55


def test_a_saved_model_loads_to_the_same_outputs_and_digest(trained, manifold, embedder,
                                                            tmp_path):
    model, training = trained
    digest = model.save(tmp_path, training)
    loaded = RewardModel.load(tmp_path, manifold, embedder)
    assert digest == model.digest == loaded.digest and digest.startswith("sha256:")

    pairs = [(s.prompt, s.response) for s in sum(labelled(range(5, 6)), [])]
    for before, after in zip(model.score_many(pairs), loaded.score_many(pairs), strict=True):
        assert after.vector == pytest.approx(before.vector, abs=1e-6)
        assert (after.intensity, after.safety, after.scalar) == pytest.approx(
            (before.intensity, before.safety, before.scalar), abs=1e-6)

    metadata = json.loads((tmp_path / "METADATA.json").read_text())
    assert metadata["digest"] == digest
    assert metadata["manifold_digest"] == manifold.digest()
    assert metadata["data_digest"] == training.data_digest
    assert [d["name"] for d in metadata["dimensions"]] == list(manifold.names)
    assert metadata["safety_score"]["range"] == [0.0, 1.0]
    assert metadata["calibration"]["curiosity"]["known"] == 0
    assert metadata["trained_at"] == TRAINED_AT.isoformat()
    assert metadata["embedder"] == "all-MiniLM-L6-v2"


def test_the_same_data_in_any_order_trains_the_same_model(samples, manifold, embedder):
    first, first_training = train_reward_model(samples, manifold, embedder=embedder, seed=1,
                                               epochs=5, trained_at=TRAINED_AT)
    again, again_training = train_reward_model(samples[::-1], manifold, embedder=embedder,
                                               seed=1, epochs=5, trained_at=TRAINED_AT)
    assert again.digest == first.digest
    assert again_training.data_digest == first_training.data_digest
    assert again_training.validation_count == first_training.validation_count


def test_load_refuses_another_manifold_and_a_changed_tensor_file(trained, manifold, embedder,
                                                                 tmp_path):
    from safetensors.torch import load_file, save_file

    model, training = trained
    model.save(tmp_path, training)

    widened = [d if d.name != "grounding" else Dimension(**{**d.model_dump(), "high": 2.0})
               for d in manifold.dimensions]
    other = manifold.model_copy(update={"dimensions": tuple(widened)})
    with pytest.raises(ValueError, match="another manifold"):
        RewardModel.load(tmp_path, other, embedder)

    tensors = load_file(tmp_path / "head.safetensors")
    tensors[sorted(tensors)[-1]].view(-1)[0] += 0.5
    save_file(tensors, tmp_path / "head.safetensors")
    with pytest.raises(ValueError, match="was changed"):
        RewardModel.load(tmp_path, manifold, embedder)


def test_training_refuses_an_empty_set_off_manifold_labels_and_no_known_dimension(
        manifold, embedder):
    def train(samples):
        return train_reward_model(samples, manifold, embedder=embedder, seed=0,
                                  trained_at=TRAINED_AT)

    with pytest.raises(ValueError, match="no samples"):
        train([])
    for vector in ({"grounding": 1.5}, {"kindness": 0.5}):
        off = LabelledText("a source", "a response",
                           RewardLabel(vector=vector, intensity=0.5, safety=1.0))
        with pytest.raises(ValueError, match="off the reward manifold"):
            train([off])
    unknown = LabelledText("a source", "a response",
                           RewardLabel(vector={"grounding": None}, intensity=0.5, safety=1.0))
    with pytest.raises(ValueError, match="no dimension is known"):
        train([unknown])
