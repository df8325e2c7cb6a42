"""Dual-channel learning's aggregates (seed 003).

A ``TrainingSet`` holds what learning is made of: reward samples (a (prompt, response) with its
reward label), preference pairs and SFT examples, each with where it came from (the model call
and the review behind it, the feedback, the labeller). An item is known by the digest of its
content, so harvesting the same history twice adds nothing.

A ``Learner`` is one line of adapters on the host: the reward models it trained, each training
run with every update's health measure and gate decision, the adapters it trained, and which
one serves (a stack: a rollback restores exactly the one before). The gate's rules are in
``domain.rhi``; the learner records what they decided under the run's thresholds, so that
``karma learn replay`` can re-decide under others.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import Field

from domain.base import Aggregate, AggregateCreated, AggregateEvent, Provenance
from domain.errors import IllegalTransitionError, NotFoundError
from domain.reward import RewardLabel, RewardManifold
from domain.rhi import (
    FastDecision,
    GateThresholds,
    SlowDecision,
    fast_gate,
    may_consolidate,
    slow_trend,
)

Digest = str
TEXT_LIMIT = 32_768
"""A prompt may carry a paper's passage; longer than this it is not a training example."""
Text = Field(max_length=TEXT_LIMIT)
Short = Field(max_length=256)


# -- the training set --------------------------------------------------------------------------

class TrainingSetOpened(AggregateCreated):
    name: str
    manifold: dict[str, Any]
    """The reward manifold its labels lie on, whole: the ledger checks every label against
    it, not against whatever a client says it is."""

    def apply(self, training_set: TrainingSet) -> None:
        training_set.name = self.name
        training_set.manifold = RewardManifold.model_validate(self.manifold)
        training_set.samples = set()
        training_set.pairs = set()
        training_set.examples = set()


class TrainingItemRecorded(AggregateEvent):
    """What every item of a training set carries."""

    intensity: float = Field(ge=0, le=1)
    safety: float = Field(ge=0, le=1)
    labeller: str = Short
    """Who judged it: ``ledger-review``, ``rubric``, ``host-likelihood:<model>``,
    ``teacher:<model>``, ``feedback``."""
    category: str = Short
    source: dict[str, str] = {}
    """The events it came from (model call, review, generation, feedback), by event id."""


class SampleLabelled(TrainingItemRecorded):
    """A (prompt, response) and its reward: what the reward model learns from."""

    sample_id: Digest = Field(max_length=80)
    prompt: str = Text
    response: str = Text
    vector: dict[str, float | None]

    def apply(self, training_set: TrainingSet) -> None:
        training_set.samples.add(self.sample_id)


class PairFormed(TrainingItemRecorded):
    """A preference: for one prompt, ``chosen`` was judged better than ``rejected``."""

    pair_id: Digest = Field(max_length=80)
    prompt: str = Text
    chosen: str = Text
    rejected: str = Text
    margin: float = Field(ge=0)
    """How much better, on the scalar preference (0..1)."""

    def apply(self, training_set: TrainingSet) -> None:
        training_set.pairs.add(self.pair_id)


class SftExampleFormed(TrainingItemRecorded):
    """A response worth imitating for its prompt: a well-reviewed answer or a correction."""

    example_id: Digest = Field(max_length=80)
    prompt: str = Text
    response: str = Text

    def apply(self, training_set: TrainingSet) -> None:
        training_set.examples.add(self.example_id)


class TrainingSet(Aggregate):
    id_prefix = "trainingset"

    @classmethod
    def open(cls, name: str, *, manifold: RewardManifold, at: datetime,
             provenance: Provenance) -> TrainingSet:
        return cls._create(TrainingSetOpened, id=cls.id_for(name), name=name,
                           manifold=manifold.model_dump(mode="json"), timestamp=at,
                           provenance=provenance)

    @property
    def sizes(self) -> dict[str, int]:
        return {"samples": len(self.samples), "pairs": len(self.pairs),
                "examples": len(self.examples)}

    def label(self, label: RewardLabel, *, sample_id: Digest, at: datetime,
              provenance: Provenance, **sample: Any) -> bool:
        """Add a labelled sample; False (nothing recorded) when the set holds it already."""
        self.manifold.check(label)
        if sample_id in self.samples:
            return False
        self.trigger_event(SampleLabelled, sample_id=sample_id, vector=label.vector,
                           intensity=label.intensity, safety=label.safety, timestamp=at,
                           provenance=provenance, **sample)
        return True

    def pair(self, *, pair_id: Digest, at: datetime, provenance: Provenance,
             **pair: Any) -> bool:
        if pair["chosen"] == pair["rejected"]:
            raise IllegalTransitionError("a pair needs two different responses")
        if pair_id in self.pairs:
            return False
        self.trigger_event(PairFormed, pair_id=pair_id, timestamp=at, provenance=provenance,
                           **pair)
        return True

    def example(self, *, example_id: Digest, at: datetime, provenance: Provenance,
                **example: Any) -> bool:
        if example_id in self.examples:
            return False
        self.trigger_event(SftExampleFormed, example_id=example_id, timestamp=at,
                           provenance=provenance, **example)
        return True


# -- the learner -------------------------------------------------------------------------------

class LearnerOpened(AggregateCreated):
    name: str
    host_model: str = Short
    manifold_digest: Digest = Field(max_length=80)
    learning_rate: float = Field(gt=0, le=1)

    def apply(self, learner: Learner) -> None:
        learner.name = self.name
        learner.host_model = self.host_model
        learner.manifold_digest = self.manifold_digest
        learner.learning_rate = self.learning_rate
        learner.reward_models = []
        learner.runs = {}
        learner.trained = {}
        learner.deployed = []
        learner.frozen = False
        learner.rhi_history = []
        learner.health = {}


class RewardModelTrained(AggregateEvent):
    digest: Digest = Field(max_length=80)
    data_digest: Digest = Field(max_length=80)
    samples: int = Field(ge=1)
    validation: int = Field(ge=0)
    losses: dict[str, float | None]
    """Each dimension's validation loss (None: no known value to validate on)."""
    calibration: dict[str, dict[str, float | None]]
    path: str = Field(max_length=1024)

    def apply(self, learner: Learner) -> None:
        learner.reward_models.append(self.digest)


class TrainingRunStarted(AggregateEvent):
    run: str = Short
    config: dict[str, Any]
    """The run's whole configuration: channel weights, rates, safety gate, thresholds."""
    base_digest: Digest | None = Field(default=None, max_length=80)
    """The adapter it starts from; None: a fresh one on the frozen host."""
    reward_model: Digest | None = Field(default=None, max_length=80)
    data_digest: Digest = Field(max_length=80)
    data: dict[str, int]
    """How many examples and pairs it trains on."""
    learning_rate: float = Field(gt=0, le=1)

    def apply(self, learner: Learner) -> None:
        learner.runs[self.run] = {"thresholds": self.config["thresholds"], "steps": 0,
                                  "finished": False}


class UpdateGated(AggregateEvent):
    """One update's health measure and what the gate did with it."""

    run: str = Short
    step: int = Field(ge=1)
    partial_rhi: float = Field(ge=0, le=1)
    dcs: float = Field(ge=0, le=1)
    gvs: float = Field(ge=0, le=1)
    gvi: float = Field(ge=0)
    decision: FastDecision
    loss: float
    sft_loss: float | None
    preference_loss: float | None
    learning_rate: float = Field(gt=0)
    examples: int = Field(ge=0)
    pairs: int = Field(ge=0)

    def apply(self, learner: Learner) -> None:
        learner.runs[self.run]["steps"] = self.step
        if self.decision is FastDecision.FREEZE:
            learner.frozen = True
        elif self.decision is FastDecision.APPLY:
            learner.frozen = False


class AdapterTrained(AggregateEvent):
    run: str = Short
    digest: Digest = Field(max_length=80)
    parent: Digest | None = Field(default=None, max_length=80)
    decisions: dict[str, int]
    """How many updates the gate applied, skipped, rolled back, held, froze at."""
    path: str = Field(max_length=1024)

    def apply(self, learner: Learner) -> None:
        learner.trained[self.digest] = self.run
        learner.runs[self.run]["finished"] = True


class RhiMeasured(AggregateEvent):
    """The full Reward Health Index of an adapter (the slow loop), with its components and
    the calibration constants it was measured with."""

    run: str = Short
    digest: Digest = Field(max_length=80)
    rhi: float = Field(ge=0, le=1)
    components: dict[str, float]
    weights: dict[str, float]
    calibration: dict[str, float]

    def apply(self, learner: Learner) -> None:
        learner.rhi_history.append(self.rhi)
        learner.health[self.digest] = self.rhi


class LearningRateLowered(AggregateEvent):
    before: float = Field(gt=0)
    after: float = Field(gt=0)
    reason: str = Field(max_length=512)

    def apply(self, learner: Learner) -> None:
        learner.learning_rate = self.after


class AdapterDeployed(AggregateEvent):
    digest: Digest = Field(max_length=80)
    previous: Digest | None = Field(default=None, max_length=80)
    rhi: float = Field(ge=0, le=1)

    def apply(self, learner: Learner) -> None:
        learner.deployed.append(self.digest)


class ConsolidationRefused(AggregateEvent):
    digest: Digest = Field(max_length=80)
    rhi: float = Field(ge=0, le=1)
    threshold: float = Field(ge=0, le=1)

    def apply(self, learner: Learner) -> None:
        pass


class AdapterRolledBack(AggregateEvent):
    """The serving adapter was withdrawn; the one deployed before it (None: the frozen host)
    serves again."""

    withdrawn: Digest = Field(max_length=80)
    restored: Digest | None = Field(default=None, max_length=80)
    reason: str = Field(min_length=1, max_length=512)

    def apply(self, learner: Learner) -> None:
        learner.deployed.pop()


class Learner(Aggregate):
    id_prefix = "learner"

    @classmethod
    def open(cls, name: str, *, host_model: str, manifold: RewardManifold,
             learning_rate: float, at: datetime, provenance: Provenance) -> Learner:
        return cls._create(LearnerOpened, id=cls.id_for(name), name=name,
                           host_model=host_model, manifold_digest=manifold.digest(),
                           learning_rate=learning_rate, timestamp=at, provenance=provenance)

    @property
    def serving(self) -> Digest | None:
        """The adapter that answers now; None: the frozen host."""
        return self.deployed[-1] if self.deployed else None

    def record_reward_model(self, *, at: datetime, provenance: Provenance,
                            **trained: Any) -> None:
        self.trigger_event(RewardModelTrained, timestamp=at, provenance=provenance, **trained)

    def start_run(self, run: str, *, config: dict[str, Any], at: datetime,
                  provenance: Provenance, **started: Any) -> None:
        if run in self.runs:
            raise IllegalTransitionError(f"learner {self.name} already has a run {run!r}")
        base = started.get("base_digest")
        if base is not None and base not in self.trained:
            raise NotFoundError(f"learner {self.name} trained no adapter {base}")
        reward_model = started.get("reward_model")
        if reward_model is not None and reward_model not in self.reward_models:
            raise NotFoundError(f"learner {self.name} trained no reward model {reward_model}")
        thresholds = config.get("thresholds")
        if not isinstance(thresholds, dict):
            raise IllegalTransitionError("a run's config names its gate's thresholds")
        try:
            GateThresholds(**thresholds)
        except (TypeError, ValueError) as error:
            raise IllegalTransitionError(f"impossible thresholds: {error}") from None
        self.trigger_event(TrainingRunStarted, run=run, config=config, timestamp=at,
                           provenance=provenance, **started)

    def gate_update(self, run: str, *, partial_rhi: float, at: datetime,
                    provenance: Provenance, **measured: Any) -> FastDecision:
        """Decide an update by its partial RHI under the run's thresholds, and record it."""
        progress = self._open_run(run)
        decision = fast_gate(partial_rhi, GateThresholds(**progress["thresholds"]),
                             frozen=self.frozen)
        self.trigger_event(UpdateGated, run=run, step=progress["steps"] + 1,
                           partial_rhi=partial_rhi, decision=decision, timestamp=at,
                           provenance=provenance, **measured)
        return decision

    def record_adapter(self, run: str, *, at: datetime, provenance: Provenance,
                       **trained: Any) -> None:
        self._open_run(run)
        self.trigger_event(AdapterTrained, run=run, timestamp=at, provenance=provenance,
                           **trained)

    def measure(self, run: str, *, digest: Digest, rhi: float, at: datetime,
                provenance: Provenance, **measure: Any) -> SlowDecision:
        """Record an adapter's full RHI; three falls in a row lower the learning rate."""
        if self.trained.get(digest) != run:
            raise NotFoundError(f"run {run} of learner {self.name} trained no adapter {digest}")
        thresholds = GateThresholds(**self.runs[run]["thresholds"])
        self.trigger_event(RhiMeasured, run=run, digest=digest, rhi=rhi, timestamp=at,
                           provenance=provenance, **measure)
        decision = slow_trend(self.rhi_history, thresholds)
        if decision is SlowDecision.LOWER_RATE:
            falls = ", ".join(f"{value:.3f}" for value in
                              self.rhi_history[-thresholds.falls - 1:])
            self.trigger_event(LearningRateLowered, before=self.learning_rate,
                               after=self.learning_rate * thresholds.rate_factor,
                               reason=f"RHI fell {thresholds.falls} times in a row: {falls}",
                               timestamp=at, provenance=provenance)
        return decision

    def deploy(self, digest: Digest, *, at: datetime, provenance: Provenance) -> bool:
        """Serve ``digest`` if its recorded health allows consolidation (under the thresholds
        of the run that trained it); else record the refusal. False when refused."""
        if digest not in self.trained:
            raise NotFoundError(f"learner {self.name} trained no adapter {digest}")
        if digest == self.serving:
            raise IllegalTransitionError(f"adapter {digest} already serves")
        if digest not in self.health:
            raise IllegalTransitionError(
                f"adapter {digest} has no RHI measured: it cannot be consolidated unseen")
        rhi = self.health[digest]
        thresholds = GateThresholds(**self.runs[self.trained[digest]]["thresholds"])
        if not may_consolidate(rhi, thresholds):
            self.trigger_event(ConsolidationRefused, digest=digest, rhi=rhi,
                               threshold=thresholds.consolidate, timestamp=at,
                               provenance=provenance)
            return False
        self.trigger_event(AdapterDeployed, digest=digest, previous=self.serving, rhi=rhi,
                           timestamp=at, provenance=provenance)
        return True

    def roll_back(self, reason: str, *, at: datetime, provenance: Provenance) -> Digest | None:
        """Withdraw the serving adapter; the one before it serves again. Returns it."""
        if not self.deployed:
            raise IllegalTransitionError(
                f"learner {self.name} serves the frozen host: there is nothing to roll back")
        restored = self.deployed[-2] if len(self.deployed) > 1 else None
        self.trigger_event(AdapterRolledBack, withdrawn=self.serving, restored=restored,
                           reason=reason, timestamp=at, provenance=provenance)
        return restored

    def _open_run(self, run: str) -> dict[str, Any]:
        progress = self.runs.get(run)
        if progress is None:
            raise NotFoundError(f"learner {self.name} has no run {run!r}")
        if progress["finished"]:
            raise IllegalTransitionError(f"run {run} of learner {self.name} is finished")
        return progress


# -- generations and feedback ------------------------------------------------------------------

class Emotion(StrEnum):
    """The seed's emotion labels (phase 7): valence, arousal, discrepancy, time focus and
    social broadcast, as a person marks a response."""

    VERY_POSITIVE = "very_positive"
    POSITIVE = "positive"
    NEGATIVE = "negative"
    VERY_NEGATIVE = "very_negative"
    HIGH_AROUSAL = "high_arousal"
    PREDICTIVE_DISCREPANCY = "predictive_discrepancy"
    PROSPECT_HEAVY = "prospect_heavy"
    REFLECTION_HEAVY = "reflection_heavy"
    HIGH_SOCIAL = "high_social"
    LOW_SOCIAL = "low_social"


class ResponseGenerated(AggregateCreated):
    """The served model answered a prompt: the server's record of what it said, with which
    adapter (None: the frozen host), for whom."""

    generation_id: str = Short
    learner: str = Short
    requested_by: str = Short
    prompt: str = Text
    responses: tuple[str, ...] = Field(min_length=1, max_length=4)
    adapter_digest: Digest | None = Field(default=None, max_length=80)
    model: str = Short
    completion_tokens: int = Field(ge=0)
    latency_ms: int = Field(ge=0)

    def apply(self, generation: Generation) -> None:
        generation.generation_id = self.generation_id
        generation.requested_by = self.requested_by
        generation.prompt = self.prompt
        generation.responses = self.responses
        generation.feedback = False


class FeedbackGiven(AggregateEvent):
    given_by: str = Short
    rating: int | None = Field(default=None, ge=-2, le=2)
    emotions: tuple[Emotion, ...] = ()
    chosen: int | None = Field(default=None, ge=0)
    """Which response was preferred, when there were several: a preference pair."""
    correction: str | None = Field(default=None, max_length=TEXT_LIMIT)
    """What the answer should have been: an SFT example."""

    def apply(self, generation: Generation) -> None:
        generation.feedback = True


class Generation(Aggregate):
    id_prefix = "generation"

    @classmethod
    def record(cls, generation_id: str, *, at: datetime, provenance: Provenance,
               **generated: Any) -> Generation:
        return cls._create(ResponseGenerated, id=cls.id_for(generation_id),
                           generation_id=generation_id, timestamp=at, provenance=provenance,
                           **generated)

    def give_feedback(self, given_by: str, *, at: datetime, provenance: Provenance,
                      **feedback: Any) -> None:
        """Once per generation: a second opinion from the same door would count twice."""
        if self.feedback:
            raise IllegalTransitionError(
                f"generation {self.generation_id} already has its feedback")
        chosen = feedback.get("chosen")
        if chosen is not None and not (len(self.responses) > 1 and
                                       chosen < len(self.responses)):
            raise IllegalTransitionError(
                f"generation {self.generation_id} has {len(self.responses)} response(s): "
                f"response {chosen} cannot be chosen")
        said = [feedback.get("rating"), feedback.get("chosen"), feedback.get("correction")]
        if all(value is None for value in said) and not feedback.get("emotions"):
            raise IllegalTransitionError("feedback needs a rating, emotions, a choice or a "
                                         "correction")
        self.trigger_event(FeedbackGiven, given_by=given_by, timestamp=at,
                           provenance=provenance, **feedback)
