"""Looking inside what was learned (seed 003, phase 6), on the real MiniLM reward model, the
real Gemma host and a real ledger: the probe reports the reward model's own scores and marks
the dimensions that moved most; PCA agrees with hand computation; the adapter compared with
the host is exactly the one trained, loaded back by its digest, and a digest the learner never
trained is refused with nothing written; the plot is a real PNG; the `karma learn` commands
print the same and exit 1 when nothing serves."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from adapters.embeddings import MiniLMEmbedder
from adapters.lora_host import LoraSettings, OrganelleHost
from domain.errors import NotFoundError
from domain.reward import RewardLabel, SafetyGate
from learning import loop, probe
from learning.config import load_config, load_manifold
from learning.reward_model import LabelledText, RewardOutput, train_reward_model
from learning.trainer import ADAPTER
from tests.conftest import ledger_size
from tests.integration.test_learning_loop import BAD, GOOD, PASSAGES, fill, summarise
from tests.support.installed import container_env

pytestmark = pytest.mark.slow

KARMA = [sys.executable, "-m", "entrypoints.cli"]
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
NEVER_TRAINED = "sha256:" + "b" * 64
# One step whose update the gate applies (the defaults could skip it and leave the adapter as
# it was born, answering exactly as the host) and an RHI that allows deploying it.
QUICK = {"learner": "t", "training_set": "set", "steps": 1, "sft_batch": 1, "pair_batch": 1,
         "held_out": 0.5, "probe_prompts": 2, "max_new_tokens": 6, "max_prompt_chars": 400,
         "learning_rate": 1e-3, "calibration": {"dcs_items": 2},
         "thresholds": {"skip": 0.02, "rollback": 0.01, "freeze": 0.0, "consolidate": 0.001}}


def middle(manifold) -> dict[str, float]:
    return {d.name: (d.low + d.high) / 2 for d in manifold.dimensions}


def test_pca_of_points_on_a_line_puts_all_the_variance_on_pc1():
    points, explained = probe.pca([[0, 0, 0], [1, 2, 2], [2, 4, 4], [3, 6, 6]])
    # Along (1, 2, 2) / 3 the points lie 3 apart, centred on their mean.
    assert explained == pytest.approx((1.0, 0.0))
    assert points[:, 0] == pytest.approx([-4.5, -1.5, 1.5, 4.5])
    assert points[:, 1] == pytest.approx([0, 0, 0, 0], abs=1e-9)


def test_pca_of_a_hand_computed_cross():
    # Centred already; variance 8 along x and 2 along y: PC1 is x with 80%, PC2 y with 20%.
    points, explained = probe.pca([[2, 0], [-2, 0], [0, 1], [0, -1]])
    assert explained == pytest.approx((0.8, 0.2))
    assert np.allclose(points, [[2, 0], [-2, 0], [0, 1], [0, -1]])


def test_pca_of_identical_vectors_explains_nothing():
    points, explained = probe.pca([[0.5, 0.5, 0.5]] * 3)
    assert explained == (0.0, 0.0) and np.allclose(points, 0)


def test_the_probe_marks_the_largest_unit_scale_moves_and_what_they_do_to_the_weight():
    manifold = load_manifold()
    gate = SafetyGate()  # caution 0.6, block 0.3, unsafe: skip
    first = middle(manifold)
    other = {**first, "empathy": 0.2, "curiosity": -1.0, "harm_avoidance": 0.5,
             "grounding": 0.8}
    # On the unit scale: curiosity -0.5, grounding +0.3, harm_avoidance +0.25, empathy +0.1.
    # Raw, harm_avoidance (+0.5) moved more than grounding (+0.3): ranges differ, units don't.
    outputs = [RewardOutput(first, 0.8, 0.9, manifold.scalar(first)),
               RewardOutput(other, 0.4, 0.45, manifold.scalar(other))]
    table = probe.probe_table(manifold, gate, "p", ["a", "b"], outputs)

    [shift] = table.shifts
    assert [name for name, _ in shift.largest] == ["curiosity", "grounding", "harm_avoidance"]
    assert [move for _, move in shift.largest] == pytest.approx([-0.5, 0.3, 0.25])
    marked = {row.name for row in table.rows if row.marked[1]}
    assert marked == {"curiosity", "grounding", "harm_avoidance"}
    assert not any(row.marked[0] for row in table.rows)
    # Safety 0.45 lies halfway up the scaled band: half of intensity 0.4.
    assert table.row("gate_weight").values == pytest.approx((0.8, 0.2))
    assert (shift.band_before, shift.band_after) == ("full", "scaled")
    assert (shift.intensity, shift.safety, shift.weight) == pytest.approx((-0.4, -0.45, -0.6))
    assert [row.name for row in table.rows] == [*manifold.names, "scalar", "reward_intensity",
                                                "safety_score", "gate_weight"]
    assert "curiosity -0.50" in probe.describe(shift)


def test_a_dimension_that_did_not_move_is_never_marked():
    manifold = load_manifold()
    first = middle(manifold)
    assert probe.largest_changes(manifold, first, {**first, "empathy": 0.5}, 3) == (
        ("empathy", pytest.approx(0.25)),)


def test_word_diff_shows_the_words_that_changed():
    parts = probe.word_diff("the cat sat on the mat", "the dog sat on the mat today")
    assert [p.operation for p in parts] == ["equal", "replace", "equal", "insert"]
    assert probe.render_diff(parts) == "the [-cat-] {+dog+} sat on the mat {+today+}"
    assert probe.word_diff("same words", "same words")[0].operation == "equal"


@pytest.fixture(scope="module")
def reward_model():
    """A small real reward model: grounded summaries against an off-topic one."""
    manifold = load_manifold()
    samples = []
    for passage in PASSAGES:
        prompt = summarise(passage)
        for response, score in ((GOOD[1].format(passage), 0.9), (BAD, 0.05)):
            samples.append(LabelledText(prompt, response, RewardLabel(
                vector={"grounding": score, "completeness": score,
                        "epistemic_integrity": 2 * score - 1},
                intensity=0.8, safety=score)))
    model, _ = train_reward_model(samples, manifold, embedder=MiniLMEmbedder(), seed=0,
                                  epochs=40, validation_share=0.0,
                                  trained_at=datetime(2025, 1, 1, tzinfo=UTC))
    return model


def test_probe_rows_are_the_reward_models_own_scores(reward_model):
    gate = SafetyGate(unsafe="invert")
    prompt = summarise(PASSAGES[1])
    responses = [GOOD[1].format(PASSAGES[1]), BAD, "QLoRA finetunes a 65B model on one GPU."]
    table = probe.probe_rows(reward_model, gate, prompt, responses)

    scored = [reward_model.score(prompt, response) for response in responses]
    for dimension in reward_model.manifold.dimensions:
        assert table.row(dimension.name).values == pytest.approx(
            [s.vector[dimension.name] for s in scored], abs=1e-5)
        assert (table.row(dimension.name).low, table.row(dimension.name).high) == (
            dimension.low, dimension.high)
    assert table.row("scalar").values == pytest.approx([s.scalar for s in scored], abs=1e-5)
    assert table.row("reward_intensity").values == pytest.approx(
        [s.intensity for s in scored], abs=1e-5)
    assert table.row("safety_score").values == pytest.approx([s.safety for s in scored],
                                                             abs=1e-5)
    assert table.row("gate_weight").values == pytest.approx(
        [gate.weight(s.intensity, s.safety) for s in scored], abs=1e-5)
    for shift in table.shifts:
        units = {d.name: abs(d.unit(scored[shift.response].vector[d.name])
                             - d.unit(scored[0].vector[d.name]))
                 for d in reward_model.manifold.dimensions}
        assert {name for name, _ in shift.largest} == set(
            sorted(units, key=units.get, reverse=True)[:3])
    # It learnt that the off-topic answer is the less grounded.
    assert table.row("grounding").values[1] < table.row("grounding").values[0]
    with pytest.raises(ValueError):
        probe.probe_rows(reward_model, gate, prompt, [])


def test_plot_writes_a_png_with_the_adapter_on_the_same_axes(reward_model, tmp_path):
    items = [probe.EvalItem(summarise(p), r, kind) for p in PASSAGES
             for r, kind in ((GOOD[0].format(p.split(",")[0]), "grounded"), (BAD, "off topic"))]
    moved = [probe.EvalItem(i.prompt, GOOD[1].format(i.prompt), i.category) for i in items]
    panels = probe.manifold_panels(reward_model, items, "recorded", moved, "adapter")
    assert [p.points.shape for p in panels] == [(8, 2), (8, 2)]
    assert sum(panels[0].explained) <= 1 + 1e-9 and panels[0].explained[0] > 0
    assert panels[0].categories == tuple(i.category for i in items)

    written = probe.plot_manifold(panels, tmp_path / "plots" / "manifold.png", "test")
    data = written.read_bytes()
    assert data.startswith(PNG_SIGNATURE) and len(data) > 10_000


def test_spread_takes_every_category_in_turn():
    items = [probe.EvalItem(str(i), "", kind) for i, kind in enumerate("aaaabbc")]
    assert [i.prompt for i in probe.spread(items, 5)] == ["0", "4", "6", "1", "5"]


def karma(container, *args: str) -> subprocess.CompletedProcess:
    """`karma` as a process of its own against the test's database."""
    env = container_env(container, COLUMNS="120")
    return subprocess.run([*KARMA, *args], env=env, capture_output=True, text=True,
                          timeout=180, check=False)


def config_file(tmp_path: Path) -> str:
    path = tmp_path / "dual.yaml"
    path.write_text(json.dumps(QUICK))  # JSON is YAML
    return str(path)


def test_cli_probe_and_a_compare_with_nothing_to_compare(container, tmp_path):
    fill(container, "set")
    loop.train_reward(container, load_config(**QUICK), epochs=30, seed=0)
    config = config_file(tmp_path)
    before = ledger_size(container)
    prompt, good = summarise(PASSAGES[0]), GOOD[1].format(PASSAGES[0])

    done = karma(container, "learn", "probe", "--prompt", prompt, "--response", good,
                 "--response", BAD, "--config", config, "--json")
    assert done.returncode == 0, done.stderr
    shown = json.loads(done.stdout)
    reward = loop.latest_reward_model(container, "t", load_manifold())
    assert shown["reward_model"] == reward.digest
    [grounding] = [row for row in shown["rows"] if row["name"] == "grounding"]
    assert grounding["values"] == pytest.approx(
        [reward.score(prompt, r).vector["grounding"] for r in (good, BAD)], abs=1e-5)
    assert sum(grounding["marked"]) <= 1 and len(shown["described"]) == 1

    table = karma(container, "learn", "probe", "--prompt", prompt, "--response", good,
                  "--response", BAD, "--config", config)
    assert table.returncode == 0 and "gate_weight" in table.stdout
    assert "response 2 vs 1" in table.stdout

    nothing = karma(container, "learn", "compare", "--prompt", prompt, "--config", config)
    assert nothing.returncode == 1 and "nothing to compare" in nothing.stderr
    foreign = karma(container, "learn", "compare", "--prompt", prompt, "--config", config,
                    "--digest", NEVER_TRAINED)
    assert foreign.returncode == 2 and "trained no adapter" in foreign.stderr

    out = tmp_path / "ledger.png"
    plotted = karma(container, "learn", "plot", "--out", str(out), "--config", config)
    assert plotted.returncode == 0, plotted.stderr
    assert out.read_bytes().startswith(PNG_SIGNATURE)
    assert "of the variance" in plotted.stdout and "serving adapter" not in plotted.stdout
    assert ledger_size(container) == before


def test_compare_the_host_with_the_adapter_trained_then_refuse_one_never_trained(
        container, tmp_path):
    fill(container, "set")
    config = load_config(**QUICK)
    loop.train_reward(container, config, epochs=30, seed=0)
    host = OrganelleHost(LoraSettings(rank=config.rank, alpha=config.alpha))
    trained = loop.train(container, config, run="only", host=host)
    before = ledger_size(container)
    reward = loop.latest_reward_model(container, "t", load_manifold())
    prompts = [summarise(PASSAGES[0]), "LoRA is"]

    probe.load_adapter(container, "t", trained.digest, host)
    assert host.digest(probe.SERVING) == trained.digest
    comparisons = probe.compare(host, reward, prompts, max_new_tokens=6)

    # Loaded back by its digest, the adapter answers exactly as the one training left.
    as_trained = host.sample(ADAPTER, prompts, max_new_tokens=6, temperature=0.0, seed=0)
    as_host = host.sample(None, prompts, max_new_tokens=6, temperature=0.0, seed=0)
    assert [c.adapter.text for c in comparisons] == [s.text for s in as_trained]
    assert [c.host.text for c in comparisons] == [s.text for s in as_host]
    for comparison in comparisons:
        for answer in (comparison.host, comparison.adapter):
            expected = reward.score(comparison.prompt, answer.text)
            assert answer.reward.vector == pytest.approx(expected.vector, abs=1e-5)
            assert (answer.reward.intensity, answer.reward.safety) == pytest.approx(
                (expected.intensity, expected.safety), abs=1e-5)
        assert " ".join(p.host for p in comparison.diff if p.host) == " ".join(
            comparison.host.text.split())
        assert " ".join(p.adapter for p in comparison.diff if p.adapter) == " ".join(
            comparison.adapter.text.split())

    with pytest.raises(NotFoundError):
        probe.load_adapter(container, "t", NEVER_TRAINED, host)
    with pytest.raises(NotFoundError):
        probe.load_adapter(container, "nobody", trained.digest, host)
    assert host.digest(probe.SERVING) == trained.digest  # the refused load changed nothing
    assert ledger_size(container) == before

    # The plot's second panel: the adapter's answers to the ledger's prompts, on the first
    # panel's axes.
    recorded = probe.ledger_items(container, "set", 4)
    answered = probe.answered(host, probe.SERVING, recorded, max_new_tokens=6,
                              max_prompt_chars=400)
    assert [a.prompt for a in answered] == [r.prompt for r in recorded]
    assert len({r.category for r in recorded}) == 1 and len(recorded) == 4
    panels = probe.manifold_panels(reward, recorded, "recorded", answered, "adapter")
    assert panels[1].borrowed_axes and panels[1].points.shape == (4, 2)
    png = probe.plot_manifold(panels, tmp_path / "served.png", "served")
    assert png.read_bytes().startswith(PNG_SIGNATURE)

    # Deployed, it is what `karma learn compare` takes by default.
    assert loop.deploy(container, "t", trained.digest)
    config_path = config_file(tmp_path)
    done = karma(container, "learn", "compare", "--prompt", prompts[0], "--config",
                 config_path, "--json")
    assert done.returncode == 0, done.stderr
    shown = json.loads(done.stdout)
    assert shown["adapter"] == trained.digest and shown["serving"]
    [printed] = shown["comparisons"]
    assert (printed["host"]["text"], printed["adapter"]["text"]) == (
        comparisons[0].host.text, comparisons[0].adapter.text)
