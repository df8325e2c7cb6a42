"""`karma learn` as a user runs it (the installed script, outside the checkout) against the
test's PostgreSQL: the reward model, a training run, deploy, rollback and replay, each saying
what it did; refused input exits 2 and writes nothing."""

from __future__ import annotations

import json

import pytest

from domain.learning import AdapterDeployed, AdapterRolledBack, Learner
from tests.conftest import ledger_size
from tests.integration.test_harvest import record_history
from tests.integration.test_learning_loop import fill
from tests.support.installed import karma, user_env

pytestmark = pytest.mark.slow

CONFIG = """\
learner: cli
training_set: set
steps: 2
sft_batch: 1
pair_batch: 1
held_out: 0.5
probe_prompts: 2
max_new_tokens: 4
max_prompt_chars: 300
thresholds:
  consolidate: 0.01
"""


@pytest.fixture
def env(container, tmp_path) -> dict[str, str]:
    settings = container.settings
    return user_env(KARMA_HOME=str(tmp_path / "home"), KARMA_DATABASE_URL=settings.database_url,
                    KARMA_NATS_URL=settings.nats_url,
                    KARMA_NATS_NAMESPACE=settings.nats_namespace)


def test_reward_model_train_deploy_rollback_and_replay_from_the_installed_script(
        container, env, tmp_path):
    fill(container, "set")
    config = tmp_path / "learn.yaml"
    config.write_text(CONFIG)
    run = {"env": env, "cwd": tmp_path, "timeout": 600}

    reward = json.loads(karma("learn", "train-reward", "--config", str(config), "--epochs",
                              "30", "--json", **run).stdout)
    assert reward["samples"] == 8 and reward["digest"].startswith("sha256:")

    trained = json.loads(karma("learn", "train", "--config", str(config), "--run", "first",
                               "--json", **run).stdout)
    assert sum(trained["decisions"].values()) == 2 and 0 <= trained["rhi"] <= 1
    digest = trained["digest"]

    deployed = karma("learn", "deploy", digest, "--config", str(config), **run)
    assert f"{digest} serves learner cli" in deployed.stdout
    rolled = karma("learn", "rollback", "--reason", "checking", "--config", str(config), **run)
    assert "now serves the frozen host" in rolled.stdout
    events = list(container.ledger.events.get(Learner.id_for("cli")))
    assert [type(e) for e in events if isinstance(e, AdapterDeployed | AdapterRolledBack)] == [
        AdapterDeployed, AdapterRolledBack]

    replayed = json.loads(karma("learn", "replay", "first", "--config", str(config), "--skip",
                                "0.999", "--rollback", "0.001", "--freeze", "0", "--json",
                                **run).stdout)
    assert len(replayed) == 2
    assert all(row["redecided"] in ("skip", "apply") for row in replayed)

    before = ledger_size(container)
    for args in (("deploy", "sha256:" + "0" * 64), ("rollback", "--reason", "again"),
                 ("replay", "never"), ("replay", "first", "--skip", "0.2"),
                 ("train", "--steps", "0")):
        done = karma("learn", *args, "--config", str(config), check=False, **run)
        assert done.returncode == 2, (args, done.stdout, done.stderr)
        assert "error" in done.stderr.lower() or "invalid" in done.stderr.lower()
    assert ledger_size(container) == before


def test_harvest_turns_reviewed_model_calls_into_training_data_once(container, env, tmp_path):
    record_history(container.service)
    run = {"env": env, "cwd": tmp_path, "timeout": 300}
    first = json.loads(karma("learn", "harvest", "--json", **run).stdout)
    assert (first["calls_reviewed"], first["calls_unreviewed"]) == (2, 1)
    assert (first["samples_added"], first["pairs_added"], first["examples_added"]) == (2, 1, 1)
    before = ledger_size(container)
    again = json.loads(karma("learn", "harvest", "--json", **run).stdout)
    assert again["samples_added"] == again["pairs_added"] == again["examples_added"] == 0
    assert ledger_size(container) == before
    shown = karma("learn", "harvest", **run).stdout
    assert "samples present" in shown and "training set ledger" in shown
