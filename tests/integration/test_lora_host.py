"""LoRA organelles on the real Gemma 3 270M host (CPU): a newborn answers as the host does,
a training step learns from answer tokens only, a merge keeps the sum of the deltas, and a
saved adapter carries its digest and lineage."""

from __future__ import annotations

import json

import pytest

from adapters.lora_host import LoraSettings, OrganelleHost

PROMPT = "Q: What is 2 + 3?\nA: 5\nQ: What is 4 + 4?\nA: 8\nQ: What is {a} + {b}?\nA:"
EXAMPLES = [(PROMPT.format(a=a, b=b), str(a + b)) for a, b in ((1, 6), (3, 3), (2, 7), (5, 1))]


@pytest.fixture(scope="module")
def host() -> OrganelleHost:
    organelles = OrganelleHost(LoraSettings(rank=4, learning_rate=5e-3))
    organelles.spawn("o1", seed=1)
    organelles.spawn("o2", seed=2)
    return organelles


def test_a_newborn_organelle_answers_exactly_as_the_frozen_host(host):
    prompts = [prompt for prompt, _ in EXAMPLES]
    frozen = host.sample(None, prompts, max_new_tokens=4, temperature=0, seed=0)
    newborn = host.sample("o1", prompts, max_new_tokens=4, temperature=0, seed=0)
    assert newborn == frozen and all(s.tokens > 0 for s in frozen)


def test_training_on_checked_answers_lowers_their_loss_and_changes_only_the_adapter(host):
    before = host.digest("o2")
    untouched = host.digest("o1")
    losses = [host.train("o2", EXAMPLES) for _ in range(4)]
    assert losses[-1] < losses[0]
    assert host.digest("o2") != before and host.digest("o1") == untouched


def test_a_merge_keeps_the_exact_sum_of_the_parents_deltas_and_certifies_it(host, tmp_path):
    host.train("o1", EXAMPLES)
    certificate = host.merge(["o1", "o2"], [0.5, 0.5], "o1+o2")
    assert certificate.method == "cat" and certificate.relative_error < 1e-5
    assert certificate.parents == {"o1": host.digest("o1"), "o2": host.digest("o2")}
    assert certificate.child_digest == host.digest("o1+o2") not in certificate.parents.values()

    digest = host.save("o1+o2", tmp_path, {"parents": certificate.parents, "method": "cat"})
    saved = next(tmp_path.rglob("lineage.json"))
    assert json.loads(saved.read_text())["digest"] == digest == certificate.child_digest
    assert (saved.parent / "adapter_config.json").exists()
    host.drop("o1+o2")
    assert "o1+o2" not in host.adapters()
