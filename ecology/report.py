"""What an ecology run did, folded from its events: held-out accuracy per family for the frozen
host, the best organelle, the merged colony and the same-compute supervised baseline (Wilson
intervals, and the colony's difference from the frozen host with Newcombe's interval), the
compute each spent, ROI per organelle, the energy's spread (Gini, effective population),
species shares, culls, top-ups, and the assimilation attempts with their gating reasons.
Every figure comes from recorded events; nothing is recomputed from models.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from domain.assimilation import Accuracy, Difference, accuracy, difference
from domain.base import key_of
from domain.ecology import (
    AssimilationAttempted,
    BaselineTrained,
    EnergyCredited,
    EpisodeScored,
    GenerationClosed,
    GenerationWorked,
    HoldoutScored,
    OrganelleCulled,
    OrganellesMerged,
    OrganelleSpawned,
)

FROZEN = "frozen host"
ROLES = ("frozen host", "best organelle", "merged colony", "supervised baseline")


@dataclass
class OrganelleLedger:
    """One organelle's totals, from its events."""

    episodes: int = 0
    correct: float = 0.0
    tokens: int = 0
    income: Decimal = Decimal(0)
    cost: Decimal = Decimal(0)
    seconds: float = 0.0
    train_steps: int = 0
    top_ups: int = 0
    parents: tuple[str, ...] = ()

    @property
    def mean_score(self) -> float:
        return self.correct / self.episodes if self.episodes else 0.0

    @property
    def roi(self) -> float | None:
        return float(self.income / self.cost) if self.cost else None


@dataclass
class EcologyReport:
    run_id: str
    holdout: dict[str, dict[str, Accuracy]] = field(default_factory=dict)
    """adapter (or the frozen host) -> family -> accuracy at its last scoring."""
    organelles: dict[str, OrganelleLedger] = field(default_factory=dict)
    generations: list[GenerationClosed] = field(default_factory=list)
    culls: list[tuple[str, str]] = field(default_factory=list)
    attempts: list[AssimilationAttempted] = field(default_factory=list)
    merges: list[OrganellesMerged] = field(default_factory=list)
    baseline: BaselineTrained | None = None

    # -- who is compared --------------------------------------------------------------------

    @property
    def best_organelle(self) -> str | None:
        """The organelle with the best mean training reward among those scored at the end:
        chosen by what it earned, never by the held-out set it is then measured on."""
        merged = {m.child for m in self.merges}
        scored = [o for o in self.holdout if o in self.organelles and o not in merged]
        return max(scored, key=lambda o: (self.organelles[o].mean_score, o), default=None)

    @property
    def merged_colony(self) -> str | None:
        """The last merged adapter that passed its holdout and was scored at the end."""
        children = [m.child for m in self.merges if m.child in self.organelles]
        return next((child for child in reversed(children) if child in self.holdout), None)

    def roles(self) -> dict[str, str | None]:
        return {FROZEN: FROZEN if FROZEN in self.holdout else None,
                "best organelle": self.best_organelle,
                "merged colony": self.merged_colony,
                "supervised baseline": self.baseline.adapter if self.baseline else None}

    def families(self) -> list[str]:
        return sorted({f for scored in self.holdout.values() for f in scored})

    def versus_frozen(self, adapter: str) -> dict[str, Difference]:
        frozen = self.holdout.get(FROZEN, {})
        return {family: difference(score, frozen[family])
                for family, score in self.holdout.get(adapter, {}).items() if family in frozen}

    # -- compute ----------------------------------------------------------------------------

    @property
    def colony_seconds(self) -> float:
        return sum(o.seconds for o in self.organelles.values())

    @property
    def colony_tokens(self) -> int:
        return sum(o.tokens for o in self.organelles.values())

    def gating_reasons(self) -> Counter[str]:
        """Why attempts failed, by kind (the numbers taken out)."""
        return Counter(re.sub(r"[-+]?\d[\d.]*", "#", reason)
                       for attempt in self.attempts for reason in attempt.reasons)

    def as_json(self) -> dict[str, Any]:
        roles = self.roles()
        return {
            "run_id": self.run_id,
            "roles": roles,
            "holdout": {adapter: {family: _accuracy_json(a) for family, a in families.items()}
                        for adapter, families in self.holdout.items()},
            "versus_frozen": {role: {family: vars(d) for family, d in
                                     self.versus_frozen(adapter).items()}
                              for role, adapter in roles.items()
                              if adapter and adapter != FROZEN},
            "compute": {"colony_seconds": self.colony_seconds,
                        "colony_tokens": self.colony_tokens,
                        "baseline": (self.baseline.model_dump(exclude={"provenance"}, mode="json")
                                     if self.baseline else None)},
            "organelles": {name: {"episodes": o.episodes, "mean_score": o.mean_score,
                                  "income": str(o.income), "cost": str(o.cost), "roi": o.roi,
                                  "seconds": o.seconds, "train_steps": o.train_steps,
                                  "top_ups": o.top_ups, "parents": list(o.parents)}
                           for name, o in self.organelles.items()},
            "generations": [g.model_dump(exclude={"provenance"}, mode="json")
                            for g in self.generations],
            "culls": [{"organelle": o, "reason": r} for o, r in self.culls],
            "gating_reasons": dict(self.gating_reasons()),
            "attempts": [a.model_dump(exclude={"provenance"}, mode="json")
                         for a in self.attempts],
            "merges": [m.model_dump(exclude={"provenance"}, mode="json") for m in self.merges],
        }


def _accuracy_json(score: Accuracy) -> dict[str, Any]:
    return {"correct": score.correct, "total": score.total, "rate": score.rate,
            "low": score.low, "high": score.high}


def report_of(run_id: str, events: Iterable[Any]) -> EcologyReport:
    report = EcologyReport(run_id)
    organelles: dict[str, OrganelleLedger] = defaultdict(OrganelleLedger)
    for event in events:
        match event:
            case OrganelleSpawned():
                organelles[event.organelle_id].parents = event.parents
            case EpisodeScored():
                totals = organelles[key_of(event.originator_id)]
                totals.episodes += 1
                totals.correct += event.score
                totals.tokens += event.tokens
                totals.income += event.income
                totals.cost += event.cost
            case GenerationWorked():
                totals = organelles[key_of(event.originator_id)]
                totals.seconds += event.sample_seconds + event.train_seconds
                totals.train_steps += event.steps
            case EnergyCredited() if event.reason.startswith("top-up"):
                organelles[key_of(event.originator_id)].top_ups += 1
            case HoldoutScored():
                report.holdout.setdefault(event.adapter or FROZEN, {})[event.family] = (
                    accuracy(event.correct, event.total))
            case GenerationClosed():
                report.generations.append(event)
            case OrganelleCulled():
                report.culls.append((key_of(event.originator_id), event.reason))
            case AssimilationAttempted():
                report.attempts.append(event)
            case OrganellesMerged():
                report.merges.append(event)
            case BaselineTrained():
                report.baseline = event
    report.organelles = dict(organelles)
    return report
