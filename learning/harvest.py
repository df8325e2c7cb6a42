"""Harvest the ledger's reviewed model calls into a training set (seed 003).

The first training data dual-channel learning has is the ledger's own history: every
``ModelCalled`` on a task the Reviewer scored is a (prompt, response) with a judgment behind
it. Harvesting turns each into a reward sample, the better of two answers to one prompt into a
preference pair, and a well-reviewed, well-grounded answer into an SFT example, each naming
the events it came from so that a trained adapter can be traced back to the reviews that
taught it.

Labels hold only what the Reviewer measured (grounding in the prompt's source, completeness
as its quality); every other dimension of the manifold stays unknown, never guessed.

Harvesting is idempotent: the ledger names each item by the digest of its content, so a
second harvest of the same history adds nothing, and a harvest cut short is finished by
running it again. It never opens a training set: the caller opens it, with its manifold.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING

from domain.base import key_of
from domain.errors import NotFoundError
from domain.learning import (
    TEXT_LIMIT,
    PairFormed,
    SampleLabelled,
    SftExampleFormed,
    TrainingSet,
    TrainingSetOpened,
)
from domain.reward import RewardLabel, RewardManifold
from domain.rubric import grounding
from domain.tasks import MAX_QUALITY, ModelCalled, ReviewScored, TaskIssued
from handlers import commands as c

if TYPE_CHECKING:
    from app.bootstrap import Container

LABELLER = "ledger-review"
COMMANDS_PER_BATCH = 200
"""Commands saved in one transaction: a batch of 32 KiB prompts stays a modest write."""
SAFE = 1.0
MARGIN_TOLERANCE = 1e-9
"""A difference of exactly ``min_margin`` can come out a hair below it in floating point."""


@dataclass(frozen=True)
class HarvestPolicy:
    """Which reviewed calls become which training items."""

    sft_threshold: float = 0.6
    """Unit quality (review quality / MAX_QUALITY) at or above which a response is worth
    imitating, if it is also grounded (``sft_grounding``)."""
    sft_grounding: float = 0.5
    """Grounding at or above which an answer counts as drawn from its source, not invented."""
    min_margin: float = 0.1
    """Scalar difference below which two answers to one prompt make no pair: too close to
    call, the preference would be noise."""
    purposes: frozenset[str] | None = None
    """The ``ModelCalled`` purposes to harvest; None: every reviewed one."""

    def __post_init__(self) -> None:
        for name in ("sft_threshold", "sft_grounding", "min_margin"):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"{name} is {getattr(self, name)}; it must lie in [0, 1]")


@dataclass(frozen=True)
class ReviewedCall:
    """A model call on a task the Reviewer scored, with the task and its reviews."""

    call_id: str
    """The ``ModelCalled`` event's id."""
    task_id: str
    run_id: str | None
    task_type: str
    tags: tuple[str, ...]
    purpose: str
    model: str
    adapter: str
    prompt: str
    prompt_digest: str
    response: str
    quality: Decimal
    """The reviews' mean quality, 0..MAX_QUALITY."""
    review_ids: tuple[str, ...]
    """The ``ReviewScored`` events' ids, oldest first."""

    @property
    def unit_quality(self) -> float:
        return float(self.quality / MAX_QUALITY)


@dataclass(frozen=True)
class HarvestReport:
    """What a harvest saw, left out and recorded. Items ``present`` were in the set already
    (a harvest run before, or the same content from elsewhere)."""

    calls_seen: int
    calls_reviewed: int
    calls_unreviewed: int
    """Calls on tasks never reviewed: no judgment to learn from, left out."""
    calls_other_purpose: int
    """Reviewed calls whose purpose the policy does not harvest."""
    calls_unusable: int
    """Reviewed calls with an empty prompt or response, or one too long to train on."""
    calls_repeated: int
    """Reviewed calls with the prompt and response of an earlier call: the earlier one
    stands for both, as the ledger keeps one item per content."""
    samples_added: int
    samples_present: int
    pairs_added: int
    pairs_present: int
    examples_added: int
    examples_present: int

    @property
    def added(self) -> int:
        return self.samples_added + self.pairs_added + self.examples_added


@dataclass(frozen=True)
class TrainingData:
    """A training set's items as recorded, each kind in the order it was added."""

    name: str
    manifold: RewardManifold
    samples: tuple[SampleLabelled, ...]
    pairs: tuple[PairFormed, ...]
    examples: tuple[SftExampleFormed, ...]

    @property
    def digest(self) -> str:
        """sha256 over the item ids (samples, pairs, then examples, each in recorded order):
        what a training run records it trained on. Items are only ever added, so any new one
        changes it."""
        ids = [*(s.sample_id for s in self.samples), *(p.pair_id for p in self.pairs),
               *(e.example_id for e in self.examples)]
        return "sha256:" + hashlib.sha256("\n".join(ids).encode()).hexdigest()


# -- reading the ledger ------------------------------------------------------------------------

@dataclass(frozen=True)
class _Scan:
    calls_seen: int
    reviewed: list[ReviewedCall]


def reviewed_calls(container: Container, run_id: str | None = None) -> list[ReviewedCall]:
    """Every model call on a reviewed task (of run ``run_id`` when given), in ledger order.
    Calls on tasks never reviewed are left out: there is no judgment to learn from."""
    return _scan(container, run_id).reviewed


def _scan(container: Container, run_id: str | None) -> _Scan:
    """One pass over the ledger: tasks, their calls and their reviews, joined at the end
    because a review comes after the calls it judges."""
    issued: dict[str, TaskIssued] = {}
    calls: list[ModelCalled] = []
    reviews: dict[str, list[ReviewScored]] = defaultdict(list)
    for _, event in container.ledger.history():
        if run_id is not None and event.provenance.run_id != run_id:
            continue
        if isinstance(event, TaskIssued):
            issued[event.originator_id] = event
        # A task's calls only: domain.graph's ModelCalled (enrichment) is no reviewed answer.
        elif isinstance(event, ModelCalled):
            calls.append(event)
        elif isinstance(event, ReviewScored):
            reviews[event.originator_id].append(event)
    reviewed = [_joined(call, issued.get(call.originator_id), reviews[call.originator_id])
                for call in calls if reviews.get(call.originator_id)]
    return _Scan(calls_seen=len(calls), reviewed=reviewed)


def _joined(call: ModelCalled, issued: TaskIssued | None,
            reviews: list[ReviewScored]) -> ReviewedCall:
    quality = sum((review.quality for review in reviews), Decimal(0)) / len(reviews)
    return ReviewedCall(
        call_id=call.event_id, task_id=key_of(call.originator_id),
        run_id=call.provenance.run_id,
        task_type=issued.task_type if issued else "", tags=issued.tags if issued else (),
        purpose=call.purpose, model=call.model, adapter=call.adapter, prompt=call.prompt,
        prompt_digest=call.prompt_digest, response=call.response, quality=quality,
        review_ids=tuple(review.event_id for review in reviews))


# -- labels, pairs, examples -------------------------------------------------------------------

def label_of(call: ReviewedCall, manifold: RewardManifold) -> RewardLabel:
    """The reward the ledger's review gives a call's response, on ``manifold``.

    grounding: the share of the response's content words found in the prompt (which holds the
    source passage the model was given), as the Reviewer measures it; completeness: the
    review's unit quality. Every other dimension is unknown (None): the Reviewer does not
    measure them, and a guess would be learnt as a fact.

    intensity: 0.2 + 0.8 * |2q - 1| for unit quality q: a clear judgment, good or bad, teaches
    more than a middling one, and none teaches nothing.

    safety: 1.0. The Reviewer judges no safety, and these are the project's own research
    summaries of papers; a labeller or a person's feedback sets it otherwise.
    """
    quality = call.unit_quality
    vector: dict[str, float | None] = dict.fromkeys(manifold.names)
    vector |= {"grounding": grounding(call.response, call.prompt), "completeness": quality}
    intensity = min(1.0, 0.2 + 0.8 * abs(2 * quality - 1))
    return manifold.check(RewardLabel(vector=vector, intensity=intensity, safety=SAFE))


@dataclass(frozen=True)
class _Labelled:
    call: ReviewedCall
    label: RewardLabel
    scalar: float


@dataclass(frozen=True)
class _Plan:
    other_purpose: int
    unusable: int
    repeated: int
    samples: list[c.LabelSample]
    pairs: list[c.FormPair]
    examples: list[c.FormSftExample]


def _plan(calls: Sequence[ReviewedCall], manifold: RewardManifold, policy: HarvestPolicy,
          training_set: str) -> _Plan:
    """The commands a harvest issues for ``calls``; nothing is written here, so a call that
    cannot be labelled refuses the harvest before any of it is saved."""
    harvested = [call for call in calls
                 if policy.purposes is None or call.purpose in policy.purposes]
    usable = [call for call in harvested if _usable(call)]
    # The ledger keeps one item per content: the first call of a (prompt, response) stands
    # for its repeats (a replay records the same answer again).
    first: dict[tuple[str, str], ReviewedCall] = {}
    for call in usable:
        first.setdefault((call.prompt_digest, call.response), call)
    labelled = []
    for call in first.values():
        label = label_of(call, manifold)
        labelled.append(_Labelled(call, label, manifold.scalar(label.vector) or 0.0))
    return _Plan(
        other_purpose=len(calls) - len(harvested), unusable=len(harvested) - len(usable),
        repeated=len(usable) - len(first),
        samples=[_sample(item, training_set) for item in labelled],
        pairs=_pairs(labelled, policy, training_set),
        examples=[_example(item, training_set) for item in labelled
                  if item.call.unit_quality >= policy.sft_threshold
                  and (item.label.vector["grounding"] or 0.0) >= policy.sft_grounding])


def _usable(call: ReviewedCall) -> bool:
    return all(0 < len(text) <= TEXT_LIMIT for text in (call.prompt, call.response))


def _sources(call: ReviewedCall) -> dict[str, str]:
    # Values are capped at 256 characters: the first review names them all by its task.
    return {"call": call.call_id, "review": call.review_ids[0],
            "reviews": str(len(call.review_ids))}


def _sample(item: _Labelled, training_set: str) -> c.LabelSample:
    return c.LabelSample(
        training_set=training_set, prompt=item.call.prompt, response=item.call.response,
        vector=item.label.vector, intensity=item.label.intensity, safety=item.label.safety,
        labeller=LABELLER, category=item.call.task_type, source=_sources(item.call))


def _example(item: _Labelled, training_set: str) -> c.FormSftExample:
    return c.FormSftExample(
        training_set=training_set, prompt=item.call.prompt, response=item.call.response,
        intensity=item.label.intensity, safety=item.label.safety, labeller=LABELLER,
        category=item.call.task_type, source=_sources(item.call))


def _pairs(labelled: list[_Labelled], policy: HarvestPolicy,
           training_set: str) -> list[c.FormPair]:
    """For each prompt, its best answer against each answer at least ``min_margin`` worse.

    Best against each, not every pair of answers: n answers make n - 1 pairs that all agree
    with one ranking. Ties go to the earlier call. A pair's intensity is the mean of its two
    answers' (both judgments carry it), its safety the lower (a pair is as safe as its least
    safe half)."""
    by_prompt: dict[str, list[_Labelled]] = defaultdict(list)
    for item in labelled:
        by_prompt[item.call.prompt_digest].append(item)
    pairs = []
    for answers in by_prompt.values():
        best, *rest = sorted(answers, key=lambda item: -item.scalar)
        for worse in rest:
            margin = best.scalar - worse.scalar
            # Two answers judged alike prefer nothing, even when the policy asks no margin.
            if margin <= MARGIN_TOLERANCE or margin + MARGIN_TOLERANCE < policy.min_margin:
                continue
            pairs.append(c.FormPair(
                training_set=training_set, prompt=best.call.prompt, chosen=best.call.response,
                rejected=worse.call.response, margin=min(1.0, max(0.0, margin)),
                intensity=(best.label.intensity + worse.label.intensity) / 2,
                safety=min(best.label.safety, worse.label.safety), labeller=LABELLER,
                category=best.call.task_type,
                source={"chosen_call": best.call.call_id, "rejected_call": worse.call.call_id,
                        "chosen_review": best.call.review_ids[0],
                        "rejected_review": worse.call.review_ids[0]}))
    return pairs


# -- harvesting --------------------------------------------------------------------------------

def harvest(container: Container, training_set: str, policy: HarvestPolicy | None = None, *,
            run_id: str | None = None, actor: c.Principal = c.ADMIN) -> HarvestReport:
    """Label every reviewed call (of run ``run_id`` when given) into ``training_set``, and
    form its pairs and SFT examples. The set must exist (``OpenTrainingSet``): its manifold is
    what the labels lie on; NotFoundError otherwise, with nothing written.

    Saved in batches of at most COMMANDS_PER_BATCH commands: a harvest cut short leaves what
    it saved, and running it again adds the rest."""
    policy = policy or HarvestPolicy()
    manifold = _manifold_of(container, training_set)
    scan = _scan(container, run_id)
    plan = _plan(scan.reviewed, manifold, policy, training_set)
    samples_added = record_items(container, plan.samples, actor)
    pairs_added = record_items(container, plan.pairs, actor)
    examples_added = record_items(container, plan.examples, actor)
    return HarvestReport(
        calls_seen=scan.calls_seen, calls_reviewed=len(scan.reviewed),
        calls_unreviewed=scan.calls_seen - len(scan.reviewed),
        calls_other_purpose=plan.other_purpose, calls_unusable=plan.unusable,
        calls_repeated=plan.repeated,
        samples_added=samples_added, samples_present=len(plan.samples) - samples_added,
        pairs_added=pairs_added, pairs_present=len(plan.pairs) - pairs_added,
        examples_added=examples_added, examples_present=len(plan.examples) - examples_added)


def _manifold_of(container: Container, training_set: str) -> RewardManifold:
    aggregate_id = TrainingSet.id_for(training_set)
    if aggregate_id not in container.ledger.repository:
        raise NotFoundError(f"unknown trainingset {training_set!r}: open it first "
                            "(OpenTrainingSet, with the reward manifold)")
    return container.ledger.repository.get(aggregate_id).manifold


def record_items(container: Container, commands: Sequence[c.Command],
                 actor: c.Principal) -> int:
    """Run ``commands`` in batches; how many items they added. An item's command records
    one event when it adds the item and none when the set holds it already, so the events a
    batch wrote count what it added."""
    added = 0
    for start in range(0, len(commands), COMMANDS_PER_BATCH):
        batch = commands[start:start + COMMANDS_PER_BATCH]
        added += len(container.service.execute_batch(batch, actor).event_ids)
    return added


def training_data(container: Container, training_set: str) -> TrainingData:
    """The items of ``training_set`` as recorded: what a training run reads and digests."""
    events = list(container.ledger.events.get(TrainingSet.id_for(training_set)))
    if not events or not isinstance(events[0], TrainingSetOpened):
        raise NotFoundError(f"unknown trainingset {training_set!r}")
    return TrainingData(
        name=training_set, manifold=RewardManifold.model_validate(events[0].manifold),
        samples=tuple(e for e in events if isinstance(e, SampleLabelled)),
        pairs=tuple(e for e in events if isinstance(e, PairFormed)),
        examples=tuple(e for e in events if isinstance(e, SftExampleFormed)))
