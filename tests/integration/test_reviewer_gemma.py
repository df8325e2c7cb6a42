"""The Reviewer on its labelled set with the real local host (Gemma 3 270M on the CPU, as
`karma research run` uses it): its scores, with the host's likelihoods, separate the good
artifacts from the corrupted ones, and the likelihood alone already tells a faithful text
from one about something else. About a minute on 2 cores."""

from __future__ import annotations

import statistics

import pytest

from adapters.gemma_host import GemmaHost
from adapters.likelihoods import HostLikelihoods, likelihoods_of
from swarm.review_set import auc_by_kind, labelled_set, score_set
from swarm.reviewing import MODEL_FREE, PMI_FULL

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def scored():
    likelihoods = likelihoods_of(GemmaHost())
    assert isinstance(likelihoods, HostLikelihoods)
    return score_set(labelled_set(), likelihoods)


def test_the_reviewer_with_the_host_separates_good_artifacts_from_corrupted_ones(scored):
    auc = auc_by_kind(scored, lambda s: s.quality)
    assert auc["all"] >= 0.9, auc
    assert all(value >= 0.9 for value in auc.values()), auc


def test_the_host_likelihood_grounds_what_a_model_wrote_and_not_text_about_something_else(
        scored):
    written = [s for s in scored if s.item.task_type not in MODEL_FREE]
    assert all(s.pmi is not None for s in written if s.item.good)
    assert all(s.pmi is None for s in scored if s.item.task_type in MODEL_FREE)
    # A faithful summary gains more than a nat per token from reading its paper...
    good = [s.pmi for s in written if s.item.good and s.item.task_type == "Summarise_Paper"]
    assert statistics.median(good) > PMI_FULL
    # ...and by its likelihood alone, on-topic text outranks off-topic text.
    assert auc_by_kind(written, lambda s: s.pmi)["off_topic"] >= 0.75
