"""Re-deciding a recorded ecology run from its events alone: the recorded thresholds give the
recorded decisions, other thresholds flip exactly the decisions they should, and what the
ledger cannot know is said rather than guessed."""

from __future__ import annotations

from decimal import Decimal

from domain.ecology import Colony, Organelle
from domain.energy import EnergyPolicy
from ecology.replay import Thresholds, redecide
from tests.builders import PROVENANCE, T0

POLICY = EnergyPolicy(initial=Decimal(2), ticket=Decimal("1.75"), strikes_to_cull=2)
EPISODE = {"generation": 1, "family": "sorting", "difficulty": 1, "question": "Sort: 2 1",
           "answer": "1 2", "score": 1.0, "checker": "sorting/1", "tokens": 4, "latency_ms": 30}
ATTEMPT = {"generation": 2, "candidate": "c.o1", "control_mean": 0.1, "treatment_mean": 0.3,
           "uplift": 0.2, "low": 0.02, "high": 0.38, "p_value": 0.01, "n_control": 40,
           "n_treatment": 40, "threshold": 0.05, "alpha": 0.05, "min_samples": 30,
           "min_holdout": 30}


def recorded_run() -> list[object]:
    """o1 earns and lives; o2 earns nothing and is culled at its second ticket."""
    colony = Colony.found("c", config_digest="sha256:x", policy=POLICY, at=T0,
                          provenance=PROVENANCE)
    rich, poor = (Organelle.spawn(f"c.o{i}", colony_id="c", policy=POLICY,
                                  adapter_digest="sha256:0", at=T0, provenance=PROVENANCE)
                  for i in (1, 2))
    for generation in (1, 2):
        for organelle, income in ((rich, Decimal(2)), (poor, Decimal(0))):
            if organelle.culled:
                continue
            organelle.score_episode(POLICY, at=T0, provenance=PROVENANCE, income=income,
                                    cost=Decimal("0.5"), **EPISODE | {"generation": generation})
            organelle.record_work(POLICY, generation=generation, episodes=1, examples=0,
                                  steps=0, sample_seconds=0.1, train_seconds=0.0,
                                  adapter_digest="sha256:0", at=T0, provenance=PROVENANCE)
            if not organelle.culled:  # its compute may have culled it
                organelle.charge(POLICY.ticket, f"ticket of generation {generation}", POLICY,
                                 at=T0, provenance=PROVENANCE)
    colony.record_attempt(at=T0, provenance=PROVENANCE, passed=False, holdout_before=None,
                          holdout_after=None, reasons=("no living partner to merge with",),
                          **ATTEMPT)
    colony.record_attempt(at=T0, provenance=PROVENANCE, passed=True, holdout_before=(9, 30),
                          holdout_after=(12, 30), **ATTEMPT | {"generation": 4})
    assert poor.culled and not rich.culled
    return [*colony.collect_events(), *rich.collect_events(), *poor.collect_events()]


def test_the_recorded_thresholds_re_decide_every_decision_as_recorded():
    decisions = redecide(recorded_run(), Thresholds())
    assert not [d for d in decisions if d.flipped]
    by_subject = {(d.kind, d.subject, d.generation): d for d in decisions}
    assert by_subject["cull", "c.o2", 2].recorded == "culled in generation 2"
    assert by_subject["cull", "c.o1", None].recorded == "lived"
    assert by_subject["assimilation", "c.o1", 2].recorded == "no merge built"
    assert by_subject["assimilation", "c.o1", 4].recorded == "merged"


def test_other_thresholds_flip_exactly_what_they_should():
    lenient = redecide(recorded_run(), Thresholds(strikes_to_cull=5, threshold=0.25))
    flipped = {(d.kind, d.subject, d.generation): d for d in lenient if d.flipped}
    assert set(flipped) == {("cull", "c.o2", 2), ("assimilation", "c.o1", 2),
                            ("assimilation", "c.o1", 4)}
    assert flipped["cull", "c.o2", 2].replayed == "lived"
    assert "never done" in flipped["cull", "c.o2", 2].note
    assert flipped["assimilation", "c.o1", 4].replayed == "refused at the uplift test"
    assert "below the threshold 0.25" in flipped["assimilation", "c.o1", 4].note


def test_a_stricter_holdout_bar_refuses_a_recorded_merge_and_harsher_strikes_cull_earlier():
    decisions = redecide(recorded_run(), Thresholds(min_holdout=40, strikes_to_cull=1))
    flipped = {(d.kind, d.subject): d for d in decisions if d.flipped}
    assert flipped["assimilation", "c.o1"].replayed == "refused at the holdout"
    assert flipped["cull", "c.o2"].replayed == "culled in generation 1"
    assert "would not have happened" in flipped["cull", "c.o2"].note


def test_re_decided_top_ups_keep_a_productive_organelle_alive():
    generous = Thresholds(topup_roi=Decimal(0), topup_max=Decimal(5))
    assert not [d for d in redecide(recorded_run(), generous) if d.flipped]  # 0: still off
    decisions = redecide(recorded_run(), Thresholds(topup_roi=Decimal("0.1"),
                                                    topup_max=Decimal(5)))
    assert not [d for d in decisions if d.flipped]  # o2's ROI is 0: no top-up saves it
