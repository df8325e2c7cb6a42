"""A recorded ecology run's decisions re-decided under other thresholds, from its events
alone: no model is called. Culls are re-decided by folding each organelle's recorded credits
and charges under another energy policy (cap, strikes, top-ups); assimilation verdicts by
putting each attempt's recorded statistics (uplift, p-value, sample counts, holdout before
and after the merge) to another gate.

What the ledger cannot tell is said, not guessed: an organelle that would have lived longer
did work that was never done, and a candidate that would now pass had no merge built.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

from domain.assimilation import AssimilationGate, Uplift, accuracy
from domain.base import key_of
from domain.ecology import (
    AssimilationAttempted,
    ColonyFounded,
    EnergyCharged,
    EnergyCredited,
    EpisodeScored,
    GenerationWorked,
    OrganelleCulled,
    OrganelleSpawned,
)
from domain.energy import EnergyPolicy, Purse


@dataclass(frozen=True)
class Thresholds:
    """What to re-decide under; None keeps the recorded value."""

    strikes_to_cull: int | None = None
    cap: Decimal | None = None
    topup_roi: Decimal | None = None
    topup_max: Decimal | None = None
    threshold: float | None = None
    alpha: float | None = None
    min_samples: int | None = None
    min_holdout: int | None = None

    def policy(self, recorded: EnergyPolicy) -> EnergyPolicy:
        changes = {name: getattr(self, name) for name in
                   ("strikes_to_cull", "cap", "topup_roi", "topup_max")
                   if getattr(self, name) is not None}
        return replace(recorded, **changes)

    def gate(self, attempt: AssimilationAttempted) -> AssimilationGate:
        def chosen(name: str) -> Any:
            mine = getattr(self, name)
            return getattr(attempt, name) if mine is None else mine

        return AssimilationGate(chosen("threshold"), chosen("alpha"), chosen("min_samples"),
                                chosen("min_holdout"))


@dataclass(frozen=True)
class Decision:
    kind: str
    """"cull" or "assimilation"."""
    subject: str
    generation: int | None
    recorded: str
    replayed: str
    note: str = ""

    @property
    def flipped(self) -> bool:
        return self.recorded != self.replayed


def redecide(events: Iterable[Any], thresholds: Thresholds) -> list[Decision]:
    events = list(events)
    founded = next((e for e in events if isinstance(e, ColonyFounded)), None)
    if founded is None:
        raise ValueError("the run founded no colony")
    recorded_policy = EnergyPolicy(**founded.energy, strikes_to_cull=founded.strikes_to_cull)
    policy = thresholds.policy(recorded_policy)
    decisions = _culls(events, policy)
    decisions += [_assimilation(a, thresholds.gate(a)) for a in events
                  if isinstance(a, AssimilationAttempted)]
    return decisions


def _culls(events: list[Any], policy: EnergyPolicy) -> list[Decision]:
    """Each organelle's purse refolded under ``policy``: recorded top-ups are taken out and
    re-decided before each ticket, at the ROI its episodes had earned by then."""
    purses: dict[str, Purse] = {}
    roi: dict[str, list[Decimal]] = {}
    generation: dict[str, int] = {}
    replayed_cull: dict[str, int] = {}
    recorded_cull: dict[str, int] = {}
    for event in events:
        name = key_of(event.originator_id) if hasattr(event, "originator_id") else None
        match event:
            case OrganelleSpawned():
                purses[event.organelle_id] = Purse(balance=min(event.energy, policy.cap))
                roi[event.organelle_id] = [Decimal(0), Decimal(0)]
                generation[event.organelle_id] = 0
            case EpisodeScored():
                roi[name][0] += event.income
                roi[name][1] += event.cost
                generation[name] = event.generation
            case GenerationWorked():
                generation[name] = event.generation
            case OrganelleCulled():
                recorded_cull[name] = generation[name]
            case EnergyCredited() | EnergyCharged() if name not in replayed_cull:
                purse = _refold(purses[name], event, policy, roi[name])
                purses[name] = purse
                if purse.culled:
                    replayed_cull[name] = generation[name]
    return [_cull_decision(name, recorded_cull.get(name), replayed_cull.get(name))
            for name in purses]


def _refold(purse: Purse, event: Any, policy: EnergyPolicy, roi: list[Decimal]) -> Purse:
    if isinstance(event, EnergyCredited):
        if event.reason.startswith("top-up"):
            return purse  # re-decided before the ticket below
        return purse.credit(event.amount, policy)
    if event.reason.startswith("ticket"):
        rate = float(roi[0] / roi[1]) if roi[1] else None
        top_up = policy.top_up(purse, rate)
        if top_up:
            purse = purse.credit(top_up, policy)
    return purse.charge(event.amount, policy)


def _cull_decision(name: str, recorded: int | None, replayed: int | None) -> Decision:
    def said(generation: int | None) -> str:
        return "lived" if generation is None else f"culled in generation {generation}"

    note = ""
    if recorded is not None and (replayed is None or replayed > recorded):
        note = "its work after the recorded cull was never done: the ledger cannot say more"
    elif replayed is not None and (recorded is None or replayed < recorded):
        note = "its recorded work after this generation would not have happened"
    return Decision("cull", name, recorded if recorded is not None else replayed,
                    said(recorded), said(replayed), note)


def _assimilation(attempt: AssimilationAttempted, gate: AssimilationGate) -> Decision:
    recorded = _verdict(attempt, AssimilationGate(attempt.threshold, attempt.alpha,
                                                  attempt.min_samples, attempt.min_holdout))
    replayed = _verdict(attempt, gate)
    note = ""
    if replayed[0] != recorded[0] and replayed[0] == "no merge built":
        note = "the candidate would pass; no merge was built for it, so its holdout is unknown"
    return Decision("assimilation", attempt.candidate, attempt.generation, recorded[0],
                    replayed[0], note or replayed[1])


def _verdict(attempt: AssimilationAttempted, gate: AssimilationGate) -> tuple[str, str]:
    test = Uplift(attempt.control_mean, attempt.treatment_mean, attempt.uplift, attempt.low,
                  attempt.high, attempt.p_value, attempt.n_control, attempt.n_treatment)
    candidate = gate.candidate(test)
    if not candidate.passed:
        return "refused at the uplift test", "; ".join(candidate.reasons)
    if attempt.holdout_before is None or attempt.holdout_after is None:
        return "no merge built", "; ".join(attempt.reasons)
    merged = gate.merged(accuracy(*attempt.holdout_before), accuracy(*attempt.holdout_after))
    return ("merged", "") if merged.passed else ("refused at the holdout",
                                                 "; ".join(merged.reasons))
