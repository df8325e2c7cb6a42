"""The ecology's aggregates: an organelle's energy folds from its events alone (no policy
needed to replay), a cull is final, and a colony closes its generations in order."""

from __future__ import annotations

from decimal import Decimal

import pytest

from adapters.event_store import Ledger
from domain.ecology import (
    Colony,
    EnergyCharged,
    Organelle,
    OrganelleCulled,
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


def test_energy_moves_by_the_policy_and_a_cull_is_final():
    organelle = spawned()
    organelle.score_episode(at=T0, provenance=PROVENANCE, **EPISODE)
    organelle.credit(Decimal("1.5"), "sorting answer", POLICY, at=T0, provenance=PROVENANCE)
    organelle.charge(Decimal(5), "generation ticket", POLICY, at=T0, provenance=PROVENANCE)
    assert (organelle.purse.balance, organelle.purse.unpaid, organelle.culled) == (0, 1.5, False)
    organelle.charge(Decimal(1), "generation ticket", POLICY, at=T0, provenance=PROVENANCE)
    events = organelle.collect_events()
    assert isinstance(events[-2], EnergyCharged) and isinstance(events[-1], OrganelleCulled)
    assert organelle.culled and "2 charges in a row" in events[-1].reason
    with pytest.raises(OrganelleCulledError):
        organelle.score_episode(at=T0, provenance=PROVENANCE, **EPISODE)
    with pytest.raises(OrganelleCulledError):
        organelle.credit(Decimal(1), "late", POLICY, at=T0, provenance=PROVENANCE)


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
