"""`karma learn label` as a user runs it (the installed script, outside the checkout) against
the test's PostgreSQL: a run labels into the training set and says what it did, and a run that
cannot start (nothing to answer, a bad option) says why, exits 2 and writes nothing."""

from __future__ import annotations

import json

import pytest

from handlers import commands as c
from learning.config import load_manifold
from learning.harvest import training_data
from learning.labeller import HOST_LABELLER
from tests.conftest import ledger_size
from tests.support.installed import karma, user_env


@pytest.fixture
def env(container, tmp_path) -> dict[str, str]:
    """The CLI pointed at the container's database, NATS server and namespace."""
    settings = container.settings
    return user_env(KARMA_HOME=str(tmp_path / "home"), KARMA_DATABASE_URL=settings.database_url,
                    KARMA_NATS_URL=settings.nats_url,
                    KARMA_NATS_NAMESPACE=settings.nats_namespace)


def label(env, tmp_path, *args: str):
    return karma("learn", "label", *args, env=env, cwd=tmp_path, timeout=300, check=False)


def test_ledger_prompts_from_an_empty_training_set_exit_2_with_the_way_out(
        container, env, tmp_path):
    container.service.execute(c.OpenTrainingSet(
        training_set="ledger", manifold=load_manifold().model_dump(mode="json")))
    before = ledger_size(container)
    done = label(env, tmp_path, "--prompts", "ledger")
    assert done.returncode == 2, done.stderr
    message = " ".join(done.stderr.split())
    assert "'ledger' has no labelled sample" in message and "karma learn harvest" in message
    assert ledger_size(container) == before  # no learner opened either


@pytest.mark.parametrize("args", [
    ("--candidates", "0"), ("--prompts", "everything"), ("--min-margin", "1.5"),
    ("--max-new-tokens", "2"), ("--config", "missing.yaml"),
])
def test_a_bad_option_exits_2_and_writes_nothing(container, env, tmp_path, args):
    before = ledger_size(container)
    done = label(env, tmp_path, *args)
    assert done.returncode == 2 and done.stderr.strip()
    assert ledger_size(container) == before


def test_a_run_opens_the_set_and_labels_seed_prompts_offline(container, env, tmp_path):
    done = label(env, tmp_path, "--limit", "1", "--candidates", "2", "--max-new-tokens", "4",
                 "--min-margin", "0", "--json")
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout)
    assert report["labeller"] == HOST_LABELLER and report["prompts"] == 1
    assert report["candidates"] == 2 == report["labelled"] + report["refused"]
    data = training_data(container, "ledger")
    assert report["samples_added"] == len(data.samples) == report["labelled"]
    assert report["pairs_added"] == len(data.pairs)
    assert all(s.labeller == HOST_LABELLER for s in data.samples)
