"""How a candidate triple is judged (the KARMA paper's weighting) and what contradicts what.
Pure: the numbers come from the validator; this decides."""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field

OPPOSITES = {
    ("increases", "decreases"), ("activates", "inhibits"), ("causes", "prevents"),
    ("supports", "contradicts"), ("enables", "blocks"), ("upregulates", "downregulates"),
    ("improves", "worsens"), ("partner_of", "competitor_of"), ("includes", "excludes"),
    ("outperforms", "underperforms"),
}


class Scoring(BaseModel):
    """Confidence, clarity and relevance, weighted 0.5 / 0.25 / 0.25; accepted at 0.6 or more
    with no dimension under the floor."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    confidence_weight: float = Field(default=0.5, ge=0, le=1)
    clarity_weight: float = Field(default=0.25, ge=0, le=1)
    relevance_weight: float = Field(default=0.25, ge=0, le=1)
    threshold: float = Field(default=0.6, ge=0, le=1)
    floor: float = Field(default=0.3, ge=0, le=1)

    def score(self, confidence: float, clarity: float, relevance: float) -> float:
        total = self.confidence_weight + self.clarity_weight + self.relevance_weight
        weighted = (self.confidence_weight * confidence + self.clarity_weight * clarity
                    + self.relevance_weight * relevance)
        return round(weighted / total, 6) if total else 0.0

    def verdict(self, confidence: float, clarity: float, relevance: float) -> str | None:
        """None when accepted, else why not."""
        low = [name for name, value in (("confidence", confidence), ("clarity", clarity),
                                        ("relevance", relevance)) if value < self.floor]
        if low:
            return f"{', '.join(low)} under the floor of {self.floor}"
        score = self.score(confidence, clarity, relevance)
        if score < self.threshold:
            return f"score {score:.3f} under the acceptance threshold of {self.threshold}"
        return None


def relation_key(predicate: str) -> str:
    """'Partner of' and 'partner_of' are one relation."""
    return re.sub(r"[^a-z0-9]+", "_", predicate.strip().lower()).strip("_")


def opposite(a: str, b: str) -> bool:
    """Opposite relations: a listed pair, or one the negation of the other (x / not_x)."""
    a, b = relation_key(a), relation_key(b)
    if a == f"not_{b}" or b == f"not_{a}":
        return True
    return (a, b) in OPPOSITES or (b, a) in OPPOSITES
