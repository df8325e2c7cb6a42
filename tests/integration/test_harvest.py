"""Harvesting the ledger's reviewed model calls into a training set, against a real
PostgreSQL: the labels hold what the Reviewer measured and nothing else, the pair prefers the
better-reviewed answer, every item names the events it came from, and a second harvest adds
nothing."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from importlib import resources

import pytest
import yaml

from domain.errors import NotFoundError
from domain.reward import RewardManifold
from domain.rubric import grounding
from domain.tasks import MAX_QUALITY, ModelCalled, ReviewScored, TextPart
from handlers import commands as c
from learning.harvest import (
    HarvestPolicy,
    harvest,
    label_of,
    reviewed_calls,
    training_data,
)
from tests.builders import register
from tests.conftest import ledger_size

SOURCE = ("LoRA freezes the pretrained weights and trains low-rank matrices injected into "
          "each layer, cutting trainable parameters by 10,000 times.")
PROMPT = f"Summarise this passage in one sentence.\n\n{SOURCE}"
GOOD = "LoRA freezes pretrained weights and trains low-rank matrices in each layer."
BAD = "Quantum widgets accelerate blockchain synergy across marketplaces."
HUMAN = ("empathy", "social_coherence", "agency_support", "epistemic_integrity",
         "harm_avoidance", "narrative_alignment", "curiosity")


def manifold() -> dict:
    text = resources.files("configs").joinpath("learning/manifold.yaml").read_text()
    return yaml.safe_load(text)


@dataclass(frozen=True)
class History:
    run_id: str
    good_task: str
    bad_task: str
    unreviewed_task: str


def summarise(service, run_id: str | None, agent: str, prompt: str, response: str) -> str:
    """A completed Summarise_Paper task whose agent called the model once."""
    task_id = service.execute(c.IssueTask(task_type="Summarise_Paper", run_id=run_id,
                                          tags=["peft"], base_reward=Decimal(3))).ids["task_id"]
    service.execute_batch([
        c.AssignTask(task_id=task_id, agent_id=agent),
        c.StartTask(task_id=task_id, agent_id=agent),
        c.RecordModelCall(task_id=task_id, adapter="host", model="gemma", purpose="summarise",
                          prompt=prompt, response=response, prompt_tokens=40,
                          completion_tokens=12),
        c.RecordArtifact(task_id=task_id, parts=[TextPart(text=response)]),
        c.CompleteTask(task_id=task_id, duration_ms=900, tokens=52, cpu_ms=400),
    ])
    return task_id


def review(service, task_id: str, reviewer: str, quality: str) -> None:
    service.execute(c.ScoreReview(task_id=task_id, reviewer_id=reviewer,
                                  quality=Decimal(quality), rationale="rubric"))


def record_history(service) -> History:
    """Two answers to one prompt, the good one reviewed twice (mean 1.35), the bad one once;
    a third call never reviewed."""
    register(service, "reader-1", "reader-2", "reviewer", "reviewer-2")
    run_id = service.execute(c.StartRun(workflow="research")).ids["run_id"]
    good = summarise(service, run_id, "reader-1", PROMPT, GOOD)
    bad = summarise(service, run_id, "reader-2", PROMPT, BAD)
    unreviewed = summarise(service, run_id, "reader-1", "Summarise: QLoRA quantises.",
                           "QLoRA quantises the frozen model to 4 bits.")
    review(service, good, "reviewer", "1.2")
    review(service, good, "reviewer-2", "1.5")
    review(service, bad, "reviewer", "0.3")
    return History(run_id, good, bad, unreviewed)


@pytest.fixture
def history(container) -> History:
    recorded = record_history(container.service)
    container.service.execute(c.OpenTrainingSet(training_set="ledger", manifold=manifold()))
    return recorded


def event_of(container, task_id: str, event_id: str):
    return next(e for e in container.ledger.events.get(f"task/{task_id}")
                if e.event_id == event_id)


def test_reviewed_calls_join_each_call_with_its_task_and_reviews(container, history):
    calls = {call.response: call for call in reviewed_calls(container, history.run_id)}
    assert set(calls) == {GOOD, BAD}  # the unreviewed call is left out
    good = calls[GOOD]
    assert (good.task_id, good.task_type, good.tags) == (history.good_task, "Summarise_Paper",
                                                         ("peft",))
    assert good.quality == Decimal("1.35") and len(good.review_ids) == 2
    assert good.run_id == history.run_id and good.purpose == "summarise"
    assert isinstance(event_of(container, good.task_id, good.call_id), ModelCalled)
    assert all(isinstance(event_of(container, good.task_id, review_id), ReviewScored)
               for review_id in good.review_ids)
    assert reviewed_calls(container, "another-run") == []


def test_a_label_holds_what_the_reviewer_measured_and_leaves_the_rest_unknown(history,
                                                                              container):
    good = next(call for call in reviewed_calls(container) if call.response == GOOD)
    label = label_of(good, RewardManifold.model_validate(manifold()))
    assert label.vector["grounding"] == grounding(GOOD, PROMPT) == 1.0
    assert label.vector["completeness"] == pytest.approx(0.9)
    assert all(label.vector[name] is None for name in HUMAN)
    assert label.intensity == pytest.approx(0.2 + 0.8 * 0.8) and label.safety == 1.0


def test_a_harvest_labels_pairs_and_keeps_the_good_answer(container, history):
    report = harvest(container, "ledger", HarvestPolicy(), run_id=history.run_id)
    assert (report.calls_seen, report.calls_reviewed, report.calls_unreviewed) == (3, 2, 1)
    assert (report.samples_added, report.pairs_added, report.examples_added) == (2, 1, 1)
    assert report.samples_present == report.pairs_present == report.examples_present == 0

    data = training_data(container, "ledger")
    samples = {sample.response: sample for sample in data.samples}
    assert set(samples) == {GOOD, BAD}
    for response, quality in ((GOOD, Decimal("1.35")), (BAD, Decimal("0.3"))):
        vector = samples[response].vector
        assert vector["grounding"] == pytest.approx(grounding(response, PROMPT))
        assert vector["completeness"] == pytest.approx(float(quality / MAX_QUALITY))
        assert all(vector[name] is None for name in HUMAN)
        assert samples[response].labeller == "ledger-review"
        assert samples[response].category == "Summarise_Paper"
    assert samples[GOOD].source["reviews"] == "2" and samples[BAD].source["reviews"] == "1"

    [pair] = data.pairs
    assert (pair.prompt, pair.chosen, pair.rejected) == (PROMPT, GOOD, BAD)
    assert pair.margin == pytest.approx((1.0 + 0.9) / 2 - (0.0 + 0.2) / 2)
    assert isinstance(event_of(container, history.good_task, pair.source["chosen_call"]),
                      ModelCalled)
    assert isinstance(event_of(container, history.bad_task, pair.source["rejected_call"]),
                      ModelCalled)
    assert isinstance(event_of(container, history.good_task, pair.source["chosen_review"]),
                      ReviewScored)
    assert isinstance(event_of(container, history.bad_task, pair.source["rejected_review"]),
                      ReviewScored)

    [example] = data.examples
    assert example.response == GOOD and example.source == samples[GOOD].source
    assert example.intensity == samples[GOOD].intensity


def test_a_second_harvest_adds_nothing(container, history):
    harvest(container, "ledger")
    digest, size = training_data(container, "ledger").digest, ledger_size(container)
    again = harvest(container, "ledger")
    assert again.added == 0
    assert (again.samples_present, again.pairs_present, again.examples_present) == (2, 1, 1)
    assert ledger_size(container) == size
    assert training_data(container, "ledger").digest == digest


def test_the_policy_picks_the_purposes_and_the_margin(container, history):
    other = harvest(container, "ledger", HarvestPolicy(purposes=frozenset({"grade"})))
    assert other.calls_other_purpose == 2 and other.added == 0
    wide = harvest(container, "ledger", HarvestPolicy(min_margin=0.9, sft_threshold=0.95))
    assert (wide.samples_added, wide.pairs_added, wide.examples_added) == (2, 0, 0)


def test_the_digest_changes_when_the_data_grows(container, history):
    empty = training_data(container, "ledger")
    assert empty.samples == empty.pairs == empty.examples == ()
    assert empty.manifold == RewardManifold.model_validate(manifold())
    harvest(container, "ledger")
    assert training_data(container, "ledger").digest != empty.digest


def test_harvesting_into_a_set_never_opened_raises_and_writes_nothing(container):
    record_history(container.service)
    before = ledger_size(container)
    with pytest.raises(NotFoundError):
        harvest(container, "never-opened")
    with pytest.raises(NotFoundError):
        training_data(container, "never-opened")
    assert ledger_size(container) == before
