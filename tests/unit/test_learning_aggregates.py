"""The learner's and the training set's rules: gates under the run's thresholds, the frozen
state, consolidation by recorded health only, a rollback stack that restores exactly the
adapter served before; labels checked against the manifold the set was opened with."""

import math

import pytest

from domain.errors import IllegalTransitionError, NotFoundError
from domain.learning import (
    AdapterDeployed,
    ConsolidationRefused,
    LearningRateLowered,
    Learner,
    TrainingSet,
    UpdateGated,
)
from domain.reward import (
    Dimension,
    InvalidRewardError,
    RewardLabel,
    RewardManifold,
    SafetyGate,
    UnsafeAction,
)
from domain.rhi import FastDecision, SlowDecision
from learning.config import ConfigError, load_config, load_manifold
from tests.builders import PROVENANCE, T0

AT = {"at": T0, "provenance": PROVENANCE}
THRESHOLDS = {"skip": 0.5, "rollback": 0.3, "freeze": 0.2, "consolidate": 0.7, "falls": 3,
              "rate_factor": 0.5}
A, B, C = ("sha256:" + ch * 64 for ch in "abc")
MEASURES = {"dcs": 0.5, "gvs": 0.5, "gvi": 0.1, "loss": 1.0, "sft_loss": 1.0,
            "preference_loss": None, "learning_rate": 1e-4, "examples": 1, "pairs": 0}


def manifold() -> RewardManifold:
    return RewardManifold(dimensions=(
        Dimension(name="grounding", low=0, high=1, group="task", meaning="m"),
        Dimension(name="empathy", low=-1, high=1, group="human", meaning="m")),
        intensity_meaning="i", safety_meaning="s")


def learner() -> Learner:
    return Learner.open("l", host_model="gemma", manifold=manifold(), learning_rate=1e-3, **AT)


def started(run: str = "r1") -> Learner:
    a = learner()
    a.start_run(run, config={"thresholds": THRESHOLDS}, data_digest=A, data={"pairs": 1},
                learning_rate=a.learning_rate, **AT)
    return a


def train(a: Learner, run: str, digest: str, rhi: float) -> None:
    a.record_adapter(run, digest=digest, decisions={"apply": 1}, path="/x", **AT)
    a.measure(run, digest=digest, rhi=rhi, components={}, weights={}, calibration={}, **AT)


def test_each_update_is_decided_under_the_runs_thresholds_and_freezing_holds_until_recovery():
    a = started()
    decisions = [a.gate_update("r1", partial_rhi=p, **MEASURES, **AT)
                 for p in (0.8, 0.45, 0.25, 0.1, 0.4, 0.6)]
    assert decisions == [FastDecision.APPLY, FastDecision.SKIP, FastDecision.ROLLBACK,
                         FastDecision.FREEZE, FastDecision.HELD, FastDecision.APPLY]
    gated = [e for e in a.collect_events() if isinstance(e, UpdateGated)]
    assert [e.step for e in gated] == [1, 2, 3, 4, 5, 6]
    assert not a.frozen


def test_a_run_cannot_start_twice_nor_from_an_adapter_the_learner_never_trained():
    a = started()
    with pytest.raises(IllegalTransitionError):
        a.start_run("r1", config={"thresholds": THRESHOLDS}, data_digest=A, data={},
                    learning_rate=1e-3, **AT)
    with pytest.raises(NotFoundError):
        a.start_run("r2", config={"thresholds": THRESHOLDS}, data_digest=A, data={},
                    learning_rate=1e-3, base_digest=B, **AT)
    for config in ({"thresholds": {**THRESHOLDS, "freeze": 0.9}}, {},
                   {"thresholds": {"skip": 0.5, "kind": "x"}}):
        with pytest.raises(IllegalTransitionError):
            a.start_run("r3", config=config, data_digest=A, data={}, learning_rate=1e-3, **AT)


def test_consolidation_needs_the_recorded_rhi_above_the_threshold():
    a = started()
    train(a, "r1", B, rhi=0.7)
    assert not a.deploy(B, **AT)  # strictly above 0.70
    assert isinstance(a.collect_events()[-1], ConsolidationRefused)
    assert a.serving is None
    with pytest.raises(NotFoundError):
        a.deploy(C, **AT)


def test_rollback_restores_exactly_the_adapter_served_before_then_the_host():
    a = started()
    train(a, "r1", B, rhi=0.9)
    assert a.deploy(B, **AT)
    a.start_run("r2", config={"thresholds": THRESHOLDS}, data_digest=A, data={},
                base_digest=B, learning_rate=1e-3, **AT)
    train(a, "r2", C, rhi=0.8)
    assert a.deploy(C, **AT)
    deployed = [e for e in a.collect_events() if isinstance(e, AdapterDeployed)]
    assert deployed[-1].previous == B
    assert a.roll_back("worse answers", **AT) == B and a.serving == B
    assert a.roll_back("still worse", **AT) is None and a.serving is None
    with pytest.raises(IllegalTransitionError):
        a.roll_back("nothing left", **AT)


def test_three_falls_of_the_rhi_in_a_row_halve_the_learning_rate():
    a = learner()
    for number, rhi in enumerate((0.9, 0.85, 0.8, 0.75), start=1):
        run, digest = f"r{number}", "sha256:" + f"{number}" * 64
        a.start_run(run, config={"thresholds": THRESHOLDS}, data_digest=A, data={},
                    learning_rate=a.learning_rate, **AT)
        a.record_adapter(run, digest=digest, decisions={}, path="/x", **AT)
        decision = a.measure(run, digest=digest, rhi=rhi, components={}, weights={},
                             calibration={}, **AT)
    assert decision is SlowDecision.LOWER_RATE
    assert math.isclose(a.learning_rate, 5e-4)
    assert isinstance(a.collect_events()[-1], LearningRateLowered)


def test_a_finished_run_takes_no_more_updates():
    a = started()
    train(a, "r1", B, rhi=0.5)
    with pytest.raises(IllegalTransitionError):
        a.gate_update("r1", partial_rhi=0.9, **MEASURES, **AT)


def test_labels_are_checked_against_the_sets_manifold_and_an_item_is_recorded_once():
    s = TrainingSet.open("set", manifold=manifold(), **AT)
    label = RewardLabel(vector={"grounding": 0.5, "empathy": None}, intensity=1, safety=1)
    item = {"prompt": "p", "response": "r", "labeller": "x", "category": "c"}
    assert s.label(label, sample_id=A, **item, **AT)
    assert not s.label(label, sample_id=A, **item, **AT)
    with pytest.raises(InvalidRewardError):
        s.label(RewardLabel(vector={"empathy": 2.0}, intensity=1, safety=1), sample_id=B,
                **item, **AT)
    with pytest.raises(InvalidRewardError):
        s.label(RewardLabel(vector={"kindness": 0.5}, intensity=1, safety=1), sample_id=B,
                **item, **AT)
    with pytest.raises(ValueError):
        RewardLabel(vector={"grounding": math.nan}, intensity=1, safety=1)
    assert s.sizes == {"samples": 1, "pairs": 0, "examples": 0}


@pytest.mark.parametrize(("unsafe", "weights"), [
    (UnsafeAction.SKIP, [0.0, 0.0, 0.5, 1.0]),
    (UnsafeAction.DOWNWEIGHT, [0.1, 0.1, 0.55, 1.0]),
    (UnsafeAction.INVERT, [-1.0, 0.0, 0.5, 1.0]),
])
def test_the_safety_gate_scales_an_example_and_never_weighs_a_safer_one_less(unsafe, weights):
    gate = SafetyGate(block=0.3, caution=0.6, unsafe=unsafe, unsafe_weight=0.1)
    found = [gate.weight(1.0, safety) for safety in (0.1, 0.3, 0.45, 0.9)]
    assert found == pytest.approx(weights)


def test_the_shipped_configs_load_and_an_impossible_one_is_refused(tmp_path):
    assert "grounding" in load_manifold().names
    assert load_config().thresholds.consolidate == 0.7
    bad = tmp_path / "bad.yaml"
    bad.write_text("thresholds:\n  freeze: 0.6\n")
    with pytest.raises(ConfigError, match="freeze"):
        load_config(bad)
    bad.write_text("stepz: 3\n")
    with pytest.raises(ConfigError, match="stepz"):
        load_config(bad)


def test_only_dimensions_some_label_knows_steer_the_gradients():
    from types import SimpleNamespace

    from learning.trainer import known_dimensions, unit_scores

    samples = [SimpleNamespace(vector={"grounding": 0.5, "empathy": None}),
               SimpleNamespace(vector={"grounding": None, "empathy": None})]
    assert known_dimensions(manifold(), samples) == ["grounding"]
    assert unit_scores(manifold(), [{"grounding": 0.25, "empathy": 0.0}],
                       ["empathy", "grounding"]) == [[0.5, 0.25]]
