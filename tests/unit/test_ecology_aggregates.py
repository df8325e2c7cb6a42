"""The ecology's aggregates: an organelle's energy folds from its events alone (no policy
needed to replay), a cull is final, and a colony closes its generations in order."""

from __future__ import annotations

from decimal import Decimal

import pytest

from adapters.event_store import Ledger
from domain.ecology import (
    Colony,
    EnergyCharged,
    EnergyCredited,
    EpisodeScored,
    GenerationWorked,
    Organelle,
    OrganelleCulled,
    effective_population,
    gini,
)
from domain.energy import EnergyPolicy, OrganelleCulledError
from domain.errors import IllegalTransitionError
from tests.builders import PROVENANCE, T0

POLICY = EnergyPolicy(initial=Decimal(2), strikes_to_cull=2)
EPISODE = {"generation": 1, "family": "sorting", "difficulty": 1, "question": "Sort ascending: 2 1",
           "answer": "1 2", "score": 1.0, "checker": "sorting/1", "tokens": 4, "latency_ms": 30}


def spawned() -> Organelle:
    return Organelle.spawn("colony-1.o1", colony_id="colony-1", policy=POLICY,
                           adapter_digest="sha256:" + "0" * 64, at=T0, provenance=PROVENANCE)


WORK = {"episodes": 1, "examples": 1, "steps": 1, "loss": 0.5, "sample_seconds": 0.2,
        "train_seconds": 0.3, "adapter_digest": "sha256:" + "1" * 64}


def test_energy_moves_by_the_policy_and_a_cull_is_final():
    organelle = spawned()
    organelle.score_episode(POLICY, at=T0, provenance=PROVENANCE, income=Decimal("1.5"),
                            cost=Decimal(5), **EPISODE)
    assert organelle.purse.balance == Decimal("3.5")  # paid at once, its compute billed later
    organelle.record_work(POLICY, generation=1, at=T0, provenance=PROVENANCE, **WORK)
    assert (organelle.purse.balance, organelle.purse.unpaid, organelle.culled) == (0, 1.5, False)
    assert organelle.roi == pytest.approx(0.3) and organelle.unbilled == 0
    organelle.charge(Decimal(1), "generation ticket", POLICY, at=T0, provenance=PROVENANCE)
    events = organelle.collect_events()
    assert [type(e) for e in events[1:]] == [EpisodeScored, EnergyCredited, GenerationWorked,
                                             EnergyCharged, EnergyCharged, OrganelleCulled]
    assert organelle.culled and "2 charges in a row" in events[-1].reason
    with pytest.raises(OrganelleCulledError):
        organelle.score_episode(POLICY, at=T0, provenance=PROVENANCE, income=Decimal(1),
                                cost=Decimal(0), **EPISODE)
    with pytest.raises(OrganelleCulledError):
        organelle.credit(Decimal(1), "late", POLICY, at=T0, provenance=PROVENANCE)


def test_a_cull_follows_the_whole_work_of_a_generation_never_cuts_it():
    organelle = spawned()
    for _ in range(5):  # compute far beyond the purse: nothing is charged mid-work
        organelle.score_episode(POLICY, at=T0, provenance=PROVENANCE, income=Decimal(0),
                                cost=Decimal(3), **EPISODE)
    assert not organelle.culled and organelle.unbilled == 15
    organelle.record_work(POLICY, generation=1, at=T0, provenance=PROVENANCE, **WORK)
    charged = organelle.collect_events()[-1]
    assert isinstance(charged, EnergyCharged) and charged.amount == 15 and charged.paid == 2


def test_a_generation_s_work_is_recorded_once():
    organelle = spawned()
    organelle.record_work(POLICY, generation=1, at=T0, provenance=PROVENANCE, **WORK)
    with pytest.raises(IllegalTransitionError, match="already recorded its work"):
        organelle.record_work(POLICY, generation=1, at=T0, provenance=PROVENANCE, **WORK)
    assert organelle.worked_generation == 1 and organelle.adapter_digest == WORK["adapter_digest"]


def test_a_productive_organelle_is_topped_up_towards_its_initial_energy():
    policy = EnergyPolicy(initial=Decimal(4), topup_roi=Decimal("1.2"), topup_max=Decimal(1))
    organelle = Organelle.spawn("colony-1.o2", colony_id="colony-1", policy=policy,
                                adapter_digest="sha256:" + "0" * 64, at=T0,
                                provenance=PROVENANCE)
    organelle.charge(Decimal(3), "ticket", policy, at=T0, provenance=PROVENANCE)
    organelle.top_up(policy, at=T0, provenance=PROVENANCE)  # no episode yet: no ROI
    assert organelle.purse.balance == 1
    organelle.score_episode(policy, at=T0, provenance=PROVENANCE, income=Decimal(1),
                            cost=Decimal(1), **EPISODE)
    organelle.top_up(policy, at=T0, provenance=PROVENANCE)  # ROI 1.0, below the bar
    assert organelle.purse.balance == 2
    organelle.score_episode(policy, at=T0, provenance=PROVENANCE, income=Decimal(1),
                            cost=Decimal(0), **EPISODE)
    organelle.top_up(policy, at=T0, provenance=PROVENANCE)  # ROI 2.0: one unit, the most
    assert organelle.purse.balance == 4
    assert "top-up: ROI 2.00" in organelle.collect_events()[-1].reason


def test_a_saved_organelle_reloads_to_the_same_purse_without_the_policy():
    ledger = Ledger(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    organelle = spawned()
    organelle.credit(Decimal(60), "a lucky streak", POLICY, at=T0, provenance=PROVENANCE)
    organelle.charge(Decimal("0.5"), "generation ticket", POLICY, at=T0, provenance=PROVENANCE)
    ledger.save(organelle)
    reloaded = ledger.repository.get(organelle.id)
    assert reloaded.purse == organelle.purse
    assert (reloaded.purse.balance, reloaded.purse.overflow) == (Decimal("49.5"), 12)
    ledger.close()


def test_a_colony_closes_its_generations_in_order():
    colony = Colony.found("colony-1", config_digest="sha256:x", policy=POLICY, at=T0,
                          provenance=PROVENANCE)
    assert colony.energy_policy == POLICY
    summary = {"living": 2, "culled": 0, "episodes": 8, "mean_score": 0.25,
               "energy_total": Decimal(20), "energy_gini": 0.1}
    colony.close_generation(generation=1, at=T0, provenance=PROVENANCE, **summary)
    with pytest.raises(IllegalTransitionError, match="closes 2 next, not 3"):
        colony.close_generation(generation=3, at=T0, provenance=PROVENANCE, **summary)
    assert colony.generation == 1


def test_the_energy_gini_is_zero_for_equals_and_grows_with_inequality():
    assert gini([Decimal(5)] * 4) == 0.0
    assert gini([Decimal(0), Decimal(0), Decimal(0), Decimal(8)]) == pytest.approx(0.75)
    assert gini([]) == 0.0


def test_the_effective_population_counts_equal_shares_and_shrinks_with_hoarding():
    assert effective_population([Decimal(5)] * 4) == 4.0
    assert effective_population([Decimal(1), Decimal(0), Decimal(0)]) == 1.0
    assert effective_population([]) == 0.0
