"""The ecology's aggregates (seed 002): an organelle, which answers checked tasks, earns and
spends energy and may be culled, and the colony of one ecology run, which closes generations
and records assimilation attempts and merges.

The events record what happened, not how it was decided: an energy charge says what was paid
and what was left unpaid, so a replay folds the events without the policy that priced them,
and a recorded decision can be re-decided under other thresholds (``karma ecology replay``).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from decimal import Decimal

from pydantic import Field

from domain.base import Aggregate, AggregateCreated, AggregateEvent, Provenance
from domain.energy import EnergyPolicy, OrganelleCulledError, Purse
from domain.errors import IllegalTransitionError

Amount = Decimal
ENERGY_AMOUNTS = ("initial", "ticket", "cost_per_token", "cost_per_second", "base_price",
                  "price_slope", "target_success", "cap", "topup_roi", "topup_max")


class OrganelleSpawned(AggregateCreated):
    organelle_id: str
    colony_id: str
    energy: Amount = Field(ge=0)
    parents: tuple[str, ...] = ()
    """The organelles it was merged from; none for a founder."""
    adapter_digest: str = Field(max_length=80)

    def apply(self, organelle: Organelle) -> None:
        organelle.organelle_id = self.organelle_id
        organelle.colony_id = self.colony_id
        organelle.purse = Purse(balance=self.energy)
        organelle.parents = self.parents
        organelle.adapter_digest = self.adapter_digest
        organelle.episodes = 0
        organelle.income = Decimal(0)
        organelle.cost = Decimal(0)
        organelle.unbilled = Decimal(0)
        organelle.worked_generation = 0


class EpisodeScored(AggregateEvent):
    """An answer the organelle gave and the checker's verdict, with what it cost."""

    generation: int = Field(ge=0)
    family: str = Field(max_length=64)
    difficulty: int = Field(ge=1)
    question: str = Field(max_length=4096)
    answer: str = Field(max_length=4096)
    score: float = Field(ge=0, le=1)
    checker: str = Field(max_length=80)
    tokens: int = Field(ge=0)
    latency_ms: int = Field(ge=0)
    income: Amount = Field(default=Decimal(0), ge=0)
    """What the answer was priced at (its reward at the cell's price): the ROI's numerator."""
    cost: Amount = Field(default=Decimal(0), ge=0)
    """What its compute was priced at: the ROI's denominator, billed with the generation's
    work (``GenerationWorked``) so that an organelle is never culled halfway through it."""

    def apply(self, organelle: Organelle) -> None:
        organelle.episodes += 1
        organelle.income += self.income
        organelle.cost += self.cost
        organelle.unbilled += self.cost


class GenerationWorked(AggregateEvent):
    """An organelle's work of one generation is done and recorded: its episodes (recorded
    just before, in the same transaction) and what it learned from the answers that passed.
    Recorded once per generation, so work delivered twice is never recorded twice."""

    generation: int = Field(ge=1)
    episodes: int = Field(ge=0)
    examples: int = Field(ge=0)
    """Distinct checked answers it trained on."""
    steps: int = Field(ge=0)
    loss: float | None = None
    """The last step's loss; None when it had nothing to train on."""
    sample_seconds: float = Field(ge=0)
    train_seconds: float = Field(ge=0)
    adapter_digest: str = Field(max_length=80)
    """Its adapter after the work: what the next generation starts from."""
    worker: str = Field(default="", max_length=128)
    compute_cost: Amount = Field(ge=0)
    """The episodes' compute, charged next."""

    def apply(self, organelle: Organelle) -> None:
        organelle.worked_generation = self.generation
        organelle.adapter_digest = self.adapter_digest
        organelle.unbilled = Decimal(0)


class EnergyCredited(AggregateEvent):
    amount: Amount = Field(ge=0)
    kept: Amount = Field(ge=0)
    """What the cap let in; the rest is overflow."""
    reason: str = Field(max_length=256)

    def apply(self, organelle: Organelle) -> None:
        purse = organelle.purse
        organelle.purse = replace(purse, balance=purse.balance + self.kept,
                                  earned=purse.earned + self.kept,
                                  overflow=purse.overflow + self.amount - self.kept)


class EnergyCharged(AggregateEvent):
    amount: Amount = Field(ge=0)
    paid: Amount = Field(ge=0)
    strikes: int = Field(ge=0)
    """Charges in a row not paid in full, this one included."""
    reason: str = Field(max_length=256)

    def apply(self, organelle: Organelle) -> None:
        purse = organelle.purse
        organelle.purse = replace(purse, balance=purse.balance - self.paid,
                                  spent=purse.spent + self.paid,
                                  unpaid=purse.unpaid + self.amount - self.paid,
                                  strikes=self.strikes)


class OrganelleCulled(AggregateEvent):
    reason: str = Field(max_length=512)

    def apply(self, organelle: Organelle) -> None:
        organelle.purse = replace(organelle.purse, culled=True)


class Organelle(Aggregate):
    id_prefix = "organelle"

    @classmethod
    def spawn(cls, organelle_id: str, *, colony_id: str, policy: EnergyPolicy,
              adapter_digest: str, parents: tuple[str, ...] = (), at: datetime,
              provenance: Provenance) -> Organelle:
        return cls._create(OrganelleSpawned, id=cls.id_for(organelle_id),
                           organelle_id=organelle_id, colony_id=colony_id,
                           energy=policy.initial, parents=parents,
                           adapter_digest=adapter_digest, timestamp=at, provenance=provenance)

    @property
    def culled(self) -> bool:
        return self.purse.culled

    @property
    def roi(self) -> float | None:
        """Task income per unit of compute charged; None before its first episode."""
        return float(self.income / self.cost) if self.cost else None

    def record_work(self, policy: EnergyPolicy, *, at: datetime, provenance: Provenance,
                    **work: object) -> None:
        """Record the generation's work and charge its compute (a cull can only follow the
        whole work, never cut it in half)."""
        self._ensure_alive()
        generation = work.get("generation")
        if not isinstance(generation, int) or generation <= self.worked_generation:
            raise IllegalTransitionError(
                f"organelle {self.organelle_id} already recorded its work of generation "
                f"{self.worked_generation}; generation {generation} cannot follow it")
        cost = self.unbilled
        self.trigger_event(GenerationWorked, timestamp=at, provenance=provenance,
                           compute_cost=cost, **work)
        self.charge(cost, f"compute of generation {generation}", policy, at=at,
                    provenance=provenance)

    def top_up(self, policy: EnergyPolicy, *, at: datetime, provenance: Provenance) -> None:
        """Credit the top-up the policy grants at this ROI, if any."""
        amount = policy.top_up(self.purse, self.roi)
        if amount:
            self.credit(amount, f"top-up: ROI {self.roi:.2f} reached {policy.topup_roi}",
                        policy, at=at, provenance=provenance)

    def score_episode(self, policy: EnergyPolicy, *, at: datetime, provenance: Provenance,
                      income: Decimal, **episode: object) -> None:
        """Record a checked answer and pay it; its compute is billed with the work."""
        self._ensure_alive()
        self.trigger_event(EpisodeScored, timestamp=at, provenance=provenance, income=income,
                           **episode)
        self.credit(income, f"{episode['family']} answer, generation {episode['generation']}",
                    policy, at=at, provenance=provenance)

    def credit(self, amount: Decimal, reason: str, policy: EnergyPolicy, *, at: datetime,
               provenance: Provenance) -> None:
        after = self.purse.credit(amount, policy)
        self.trigger_event(EnergyCredited, amount=amount, kept=after.earned - self.purse.earned,
                           reason=reason, timestamp=at, provenance=provenance)

    def charge(self, amount: Decimal, reason: str, policy: EnergyPolicy, *, at: datetime,
               provenance: Provenance) -> None:
        """Charge, and cull when the strikes the policy allows run out: a culled organelle
        never acts again."""
        after = self.purse.charge(amount, policy)
        self.trigger_event(EnergyCharged, amount=amount, paid=after.spent - self.purse.spent,
                           strikes=after.strikes, reason=reason, timestamp=at,
                           provenance=provenance)
        if after.culled:
            self.trigger_event(OrganelleCulled, reason=(
                f"{after.strikes} charges in a row left unpaid ({reason})"), timestamp=at,
                provenance=provenance)

    def _ensure_alive(self) -> None:
        if self.culled:
            raise OrganelleCulledError(f"organelle {self.organelle_id} was culled")


class ColonyFounded(AggregateCreated):
    colony_id: str
    config_digest: str = Field(max_length=128)
    energy: dict[str, Decimal]
    """The energy policy's amounts: the colony's organelles are priced and culled by it."""
    strikes_to_cull: int = Field(ge=1)

    def apply(self, colony: Colony) -> None:
        colony.colony_id = self.colony_id
        colony.energy_policy = EnergyPolicy(**self.energy, strikes_to_cull=self.strikes_to_cull)
        colony.generation = 0
        colony.merges = 0


class HoldoutScored(AggregateEvent):
    """An adapter (or the frozen host, ``adapter`` None) scored on a family's held-out set:
    the figure every claim of learning is measured against."""

    generation: int = Field(ge=0)
    adapter: str | None
    adapter_digest: str | None = None
    family: str = Field(max_length=64)
    correct: int = Field(ge=0)
    total: int = Field(ge=1)

    def apply(self, colony: Colony) -> None:
        pass


class AssimilationAttempted(AggregateEvent):
    """A candidate's uplift test and, when it passed, the merged adapter's holdout: the
    numbers a verdict was decided on, so that it can be re-decided under other thresholds."""

    generation: int = Field(ge=0)
    candidate: str
    control_mean: float
    treatment_mean: float
    uplift: float
    low: float
    high: float
    p_value: float = Field(ge=0, le=1)
    n_control: int = Field(ge=0)
    n_treatment: int = Field(ge=0)
    threshold: float
    alpha: float
    min_samples: int = Field(default=2, ge=2)
    min_holdout: int = Field(default=30, ge=1)
    candidate_energy: Amount | None = None
    candidate_roi: float | None = None
    candidate_top_ups: int = Field(default=0, ge=0)
    """Top-ups the candidate received before the attempt (seed 002's top-up status)."""
    holdout_before: tuple[int, int] | None = None
    """(correct, total) of the colony's best before the merge; None when no merge was built."""
    holdout_after: tuple[int, int] | None = None
    passed: bool
    reasons: tuple[str, ...] = ()

    def apply(self, colony: Colony) -> None:
        pass


class OrganellesMerged(AggregateEvent):
    """A merge and its certificate: parents by digest, weights, method, and the merged
    delta's error against the exact weighted sum of the parents' deltas."""

    generation: int = Field(ge=0)
    child: str
    child_digest: str = Field(max_length=80)
    parents: dict[str, str]
    weights: tuple[float, ...]
    method: str = Field(max_length=32)
    relative_error: float = Field(ge=0)

    def apply(self, colony: Colony) -> None:
        colony.merges += 1


class GenerationClosed(AggregateEvent):
    generation: int = Field(ge=1)
    living: int = Field(ge=0)
    culled: int = Field(ge=0)
    episodes: int = Field(ge=0)
    mean_score: float = Field(ge=0, le=1)
    energy_total: Amount = Field(ge=0)
    energy_gini: float = Field(ge=0, le=1)
    effective_population: float = Field(default=0.0, ge=0)
    """How many organelles the energy is really spread over (inverse Simpson index)."""
    species: dict[str, int] = {}
    """Living organelles per niche: the family each answered most often."""
    top_ups: int = Field(default=0, ge=0)

    def apply(self, colony: Colony) -> None:
        colony.generation = self.generation


class BaselineTrained(AggregateEvent):
    """The same-compute baseline: a fresh LoRA trained on labelled answers (which the colony
    never sees) for as long as the colony's organelles spent sampling and training, so that the
    colony's uplift is compared with what plain supervision buys with the same compute."""

    adapter: str
    adapter_digest: str = Field(max_length=80)
    method: str = Field(max_length=32)
    examples: int = Field(ge=0)
    steps: int = Field(ge=0)
    loss: float | None = None
    seconds: float = Field(ge=0)
    budget_seconds: float = Field(ge=0)
    """The colony's compute: its episodes' sampling and its organelles' training."""

    def apply(self, colony: Colony) -> None:
        pass


class Colony(Aggregate):
    id_prefix = "colony"

    @classmethod
    def found(cls, colony_id: str, *, config_digest: str, policy: EnergyPolicy, at: datetime,
              provenance: Provenance) -> Colony:
        amounts = {name: getattr(policy, name) for name in ENERGY_AMOUNTS}
        return cls._create(ColonyFounded, id=cls.id_for(colony_id), colony_id=colony_id,
                           config_digest=config_digest, energy=amounts,
                           strikes_to_cull=policy.strikes_to_cull, timestamp=at,
                           provenance=provenance)

    def record_holdout(self, *, at: datetime, provenance: Provenance,
                       **scored: object) -> None:
        self.trigger_event(HoldoutScored, timestamp=at, provenance=provenance, **scored)

    def close_generation(self, *, at: datetime, provenance: Provenance,
                         **summary: object) -> None:
        if summary.get("generation") != self.generation + 1:
            raise IllegalTransitionError(
                f"colony {self.colony_id} is at generation {self.generation}; it closes "
                f"{self.generation + 1} next, not {summary.get('generation')}")
        self.trigger_event(GenerationClosed, timestamp=at, provenance=provenance, **summary)

    def record_attempt(self, *, at: datetime, provenance: Provenance,
                       **attempt: object) -> None:
        self.trigger_event(AssimilationAttempted, timestamp=at, provenance=provenance,
                           **attempt)

    def record_merge(self, *, at: datetime, provenance: Provenance, **merge: object) -> None:
        self.trigger_event(OrganellesMerged, timestamp=at, provenance=provenance, **merge)

    def record_baseline(self, *, at: datetime, provenance: Provenance,
                        **baseline: object) -> None:
        self.trigger_event(BaselineTrained, timestamp=at, provenance=provenance, **baseline)


def gini(values: list[Decimal]) -> float:
    """The Gini coefficient of the colony's energy: 0 when all hold the same, towards 1 when
    one holds everything."""
    ordered = sorted(float(v) for v in values)
    total = sum(ordered)
    if not ordered or total == 0:
        return 0.0
    weighted = sum((2 * rank - len(ordered) - 1) * value
                   for rank, value in enumerate(ordered, start=1))
    return weighted / (len(ordered) * total)


def effective_population(values: list[Decimal]) -> float:
    """The inverse Simpson index of the energy shares: n when n organelles hold equal
    shares, towards 1 when one holds nearly everything."""
    total = sum(values, Decimal(0))
    if not total:
        return 0.0
    return float(total * total / sum(v * v for v in values))
