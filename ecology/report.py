"""What an ecology run did, folded from its events: held-out accuracy per family for the frozen
host and each organelle (with Wilson intervals), the generations, culls, assimilation attempts
and merges. Every figure names the events it comes from; nothing is recomputed from models."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from domain.assimilation import Accuracy, accuracy
from domain.base import key_of
from domain.ecology import (
    AssimilationAttempted,
    GenerationClosed,
    HoldoutScored,
    OrganelleCulled,
    OrganellesMerged,
)

FROZEN = "frozen host"


@dataclass
class EcologyReport:
    run_id: str
    holdout: dict[str, dict[str, Accuracy]] = field(default_factory=dict)
    """adapter (or the frozen host) -> family -> accuracy at its last scoring."""
    generations: list[GenerationClosed] = field(default_factory=list)
    culls: list[tuple[str, str]] = field(default_factory=list)
    attempts: list[AssimilationAttempted] = field(default_factory=list)
    merges: list[OrganellesMerged] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "holdout": {adapter: {family: vars(a) | {"rate": a.rate}
                                  for family, a in families.items()}
                        for adapter, families in self.holdout.items()},
            "generations": [g.model_dump(exclude={"provenance"}) for g in self.generations],
            "culls": [{"organelle": o, "reason": r} for o, r in self.culls],
            "attempts": [a.model_dump(exclude={"provenance"}) for a in self.attempts],
            "merges": [m.model_dump(exclude={"provenance"}) for m in self.merges],
        }


def report_of(run_id: str, events: Iterable[Any]) -> EcologyReport:
    report = EcologyReport(run_id)
    for event in events:
        match event:
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
    return report
