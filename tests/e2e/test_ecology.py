"""A tiny colony on the real Gemma 3 270M host (CPU): every spawn, episode, charge, credit,
generation, assimilation attempt and held-out score is an event of the ledger."""

from __future__ import annotations

import json
from collections import Counter

from adapters.lora_host import LoraSettings, OrganelleHost
from app.verify import verify
from domain.ecology import (
    AssimilationAttempted,
    EnergyCharged,
    EnergyCredited,
    EpisodeScored,
    GenerationClosed,
    HoldoutScored,
    OrganelleSpawned,
)
from domain.runs import RunFinished
from ecology.colony import EcologyRun
from ecology.config import AssimilationConfig, EcologyConfig, LearningConfig
from swarm.replay import run_events
from tests.support.installed import karma, user_env

TINY = EcologyConfig(
    name="tiny", seed=3, generations=2, population=2, tasks_per_generation=2,
    families=["sorting"], difficulties=[1], held_out_per_family=30, few_shot=2,
    learning=LearningConfig(rank=4, samples_per_prompt=2, steps_per_generation=1,
                            max_new_tokens=10),
    assimilation=AssimilationConfig(every=2, min_samples=4))


def test_a_tiny_colony_records_every_step_on_the_ledger(container, tmp_path):
    said: list[str] = []
    run = EcologyRun(container, OrganelleHost(LoraSettings(rank=4)), TINY, "eco-tiny",
                     progress=said.append)
    run.run()

    events = [event for _, event in run_events(container, "eco-tiny")]
    counted = Counter(type(event) for event in events)
    assert counted[OrganelleSpawned] >= 2
    assert counted[EpisodeScored] == 2 * 2 * 2  # generations x tasks x samples
    assert counted[EnergyCredited] == counted[EpisodeScored]
    assert counted[EnergyCharged] >= counted[EpisodeScored] + 2  # compute, then tickets
    assert counted[GenerationClosed] == 2 and counted[AssimilationAttempted] == 1
    assert isinstance(events[-1], RunFinished)
    holdouts = [e for e in events if isinstance(e, HoldoutScored)]
    assert holdouts[0].adapter is None and all(h.total == 30 for h in holdouts)
    assert {h.adapter for h in holdouts[1:]} == set(run.living)
    episodes = [e for e in events if isinstance(e, EpisodeScored)]
    assert all(e.checker == "sorting/1" and e.tokens > 0 for e in episodes)
    attempt = next(e for e in events if isinstance(e, AssimilationAttempted))
    assert attempt.passed or attempt.reasons
    assert "scoring the frozen host on the held-out sets" in said
    assert verify(container).ok

    env = user_env(KARMA_DATABASE_URL=container.endpoints.database_url,
                   KARMA_NATS_URL=container.endpoints.nats_url, KARMA_HOME=str(tmp_path),
                   KARMA_NATS_NAMESPACE=container.settings.nats_namespace, COLUMNS="80")
    shown = json.loads(karma("ecology", "report", "eco-tiny", "--json", env=env,
                             cwd=tmp_path).stdout)
    assert set(shown["holdout"]) == {"frozen host", *run.living}
    assert shown["holdout"]["frozen host"]["sorting"]["total"] == 30
    assert len(shown["generations"]) == 2 and len(shown["attempts"]) == 1
    table = karma("ecology", "report", "eco-tiny", env=env, cwd=tmp_path).stdout
    assert "held-out accuracy" in table and all(len(line) <= 80 for line in table.splitlines())
    missing = karma("ecology", "report", "eco-none", env=env, cwd=tmp_path, check=False)
    assert missing.returncode == 2 and "no ecology run 'eco-none'" in missing.stderr


def test_an_impossible_config_is_refused_before_anything_starts(tmp_path):
    config = tmp_path / "bad.yaml"
    config.write_text("name: bad\ngenerations: 2\nfamilies: [poetry]\n")
    home = tmp_path / ".karma"
    refused = karma("ecology", "run", "--config", str(config),
                    env=user_env(KARMA_HOME=str(home)), cwd=tmp_path, check=False)
    assert refused.returncode == 2 and "unknown families ['poetry']" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert not home.exists()  # no server started, nothing written
