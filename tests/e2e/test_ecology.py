"""A tiny colony on the real Gemma 3 270M host (CPU): every spawn, episode, charge, credit,
generation, assimilation attempt and held-out score is an event of the ledger."""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import subprocess
import threading
import time
from collections import Counter

import nats
import nats.js.errors
import pytest

from adapters.lora_host import LoraSettings, OrganelleHost
from app.verify import verify
from domain.base import key_of
from domain.ecology import (
    AssimilationAttempted,
    BaselineTrained,
    EnergyCharged,
    EnergyCredited,
    EpisodeScored,
    GenerationClosed,
    GenerationWorked,
    HoldoutScored,
    OrganelleSpawned,
)
from domain.errors import IllegalTransitionError
from domain.runs import RunFinished
from ecology.colony import EcologyRun
from ecology.config import AssimilationConfig, BaselineConfig, EcologyConfig, LearningConfig
from ecology.distributed import QueuePerformer
from handlers import commands as c
from swarm.replay import run_events
from tests.support.installed import KARMA, container_env, karma, user_env

TINY = EcologyConfig(
    name="tiny", seed=3, generations=2, population=2, tasks_per_generation=2,
    families=["sorting"], difficulties=[1], held_out_per_family=30, few_shot=2,
    learning=LearningConfig(rank=4, samples_per_prompt=2, steps_per_generation=1,
                            max_new_tokens=10),
    assimilation=AssimilationConfig(every=2, min_samples=4),
    baseline=BaselineConfig(batch=4, max_steps=3))


def test_a_tiny_colony_records_every_step_on_the_ledger(container, tmp_path):
    said: list[str] = []
    run = EcologyRun(container, OrganelleHost(LoraSettings(rank=4)), TINY, "eco-tiny",
                     progress=said.append)
    run.run()

    events = [event for _, event in run_events(container, "eco-tiny")]
    counted = Counter(type(event) for event in events)
    assert counted[OrganelleSpawned] >= 2
    assert counted[EpisodeScored] == 2 * 2 * 2  # generations x tasks x samples
    assert counted[EnergyCredited] == counted[EpisodeScored]  # no top-ups configured
    worked = [e for e in events if isinstance(e, GenerationWorked)]
    assert sum(w.episodes for w in worked) == counted[EpisodeScored]
    assert counted[EnergyCharged] == len(worked) + 2 * 2  # each work's compute, then tickets
    assert counted[GenerationClosed] == 2 and counted[AssimilationAttempted] == 1
    assert isinstance(events[-1], RunFinished)
    holdouts = [e for e in events if isinstance(e, HoldoutScored)]
    assert holdouts[0].adapter is None and all(h.total == 30 for h in holdouts)
    baseline = next(e for e in events if isinstance(e, BaselineTrained))
    assert baseline.method == "supervised" and 1 <= baseline.steps <= 3
    assert baseline.budget_seconds == pytest.approx(
        sum(w.sample_seconds + w.train_seconds for w in worked))
    assert {h.adapter for h in holdouts[1:]} == {*run.living, baseline.adapter}

    # Work delivered twice is recorded once: the ledger refuses the second and writes nothing.
    head = container.ledger.recorder.max_notification_id()
    again = worked[-1]
    with pytest.raises(IllegalTransitionError, match="already recorded its work"):
        container.service.execute(c.RecordWork(
            run_id="eco-tiny", organelle_id=key_of(again.originator_id),
            generation=again.generation, episodes=0, examples=0, steps=0, sample_seconds=0,
            train_seconds=0, adapter_digest=again.adapter_digest))
    assert container.ledger.recorder.max_notification_id() == head
    episodes = [e for e in events if isinstance(e, EpisodeScored)]
    assert all(e.checker == "sorting/1" and e.tokens > 0 for e in episodes)
    attempt = next(e for e in events if isinstance(e, AssimilationAttempted))
    assert attempt.passed or attempt.reasons
    assert "scoring the frozen host on the held-out sets" in said
    assert verify(container).ok

    env = container_env(container, tmp_path, COLUMNS="80")
    shown = json.loads(karma("ecology", "report", "eco-tiny", "--json", env=env,
                             cwd=tmp_path).stdout)
    assert set(shown["holdout"]) == {"frozen host", *run.living, baseline.adapter}
    assert shown["holdout"]["frozen host"]["sorting"]["total"] == 30
    assert shown["roles"]["supervised baseline"] == baseline.adapter
    assert shown["roles"]["best organelle"] in run.living
    assert set(shown["versus_frozen"]["supervised baseline"]) == {"sorting"}
    assert shown["compute"]["colony_seconds"] == pytest.approx(baseline.budget_seconds)
    assert sum(o["episodes"] for o in shown["organelles"].values()) == counted[EpisodeScored]
    assert len(shown["generations"]) == 2 and len(shown["attempts"]) == 1
    plotted = karma("ecology", "report", "eco-tiny", "--plots", str(tmp_path / "plots"),
                    env=env, cwd=tmp_path)
    table = plotted.stdout
    assert "held-out accuracy" in table and "supervised baseline" in table
    assert not [line for line in table.splitlines() if len(line) > 80], table
    for name in ("energy", "scores", "holdout", "roi"):
        assert (tmp_path / "plots" / f"{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    # Seed 002's telemetry files, from the ecology's views.
    karma("ecology", "telemetry", "eco-tiny", "--out", str(tmp_path / "runs"), env=env,
          cwd=tmp_path)
    folder = tmp_path / "runs" / "eco-tiny"
    lines = {name: [json.loads(line) for line in (folder / name).read_text().splitlines()]
             for name in ("episodes.jsonl", "gen_summaries.jsonl", "assimilation.jsonl")}
    assert len(lines["episodes.jsonl"]) == counted[EpisodeScored]
    assert [g["generation"] for g in lines["gen_summaries.jsonl"]] == [1, 2]
    assert [a["kind"] for a in lines["assimilation.jsonl"]][-1] == "baseline"
    assert {e["checker"] for e in lines["episodes.jsonl"]} == {"sorting/1"}
    unknown = karma("ecology", "telemetry", "eco-none", "--out", str(tmp_path / "runs"), env=env,
                    cwd=tmp_path, check=False)
    assert unknown.returncode == 2 and "no ecology run 'eco-none'" in unknown.stderr
    assert not (tmp_path / "runs" / "eco-none").exists()

    # Re-deciding under the recorded thresholds flips nothing; a harsher gate refuses all.
    same = json.loads(karma("ecology", "replay", "eco-tiny", "--json", env=env,
                            cwd=tmp_path).stdout)
    assert same and not any(d["flipped"] for d in same)
    harsh = karma("ecology", "replay", "eco-tiny", "--threshold", "1", "--strikes", "1",
                  env=env, cwd=tmp_path).stdout
    assert "re-decided" in harsh and "decisions flip" in harsh
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


SPREAD = EcologyConfig(
    name="spread", seed=5, generations=2, population=2, tasks_per_generation=4,
    families=["sorting"], difficulties=[1], held_out_per_family=30, few_shot=2,
    learning=LearningConfig(rank=4, samples_per_prompt=2, steps_per_generation=1,
                            max_new_tokens=10),
    assimilation=AssimilationConfig(every=5), baseline=BaselineConfig(supervised=False))


def test_work_spread_over_worker_processes_survives_a_kill_and_is_recorded_once(
        container, tmp_path):
    """Organelles' work goes through the JetStream work queue to `karma ecology worker`
    processes; the first worker is killed (SIGKILL) holding an assignment; the one started
    after it gets it again, and every assignment's work is recorded exactly once."""
    env = container_env(container, tmp_path, KARMA_TASK_ACK_WAIT_S="3")
    topology = container.topology
    first = start_worker(env, tmp_path)
    workers = [first]
    host = OrganelleHost(LoraSettings(rank=4))
    run = EcologyRun(container, host, SPREAD, "eco-spread",
                     performer=QueuePerformer(container, host, timeout_s=600))
    colony = threading.Thread(target=run.run)
    colony.start()
    try:
        wait_for(lambda: consumer(container).num_ack_pending >= 1, "an assignment taken")
        first.kill()  # SIGKILL: no ack, no goodbye
        first.wait()
        second = start_worker(env, tmp_path)
        workers.append(second)
        colony.join(timeout=900)
        assert not colony.is_alive()
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.send_signal(signal.SIGTERM)
                worker.wait(timeout=60)

    events = [event for _, event in run_events(container, "eco-spread")]
    worked = [e for e in events if isinstance(e, GenerationWorked)]
    done = Counter((key_of(w.originator_id), w.generation) for w in worked)
    assert done and set(done.values()) == {1}, done  # each assignment recorded once
    assert {g for _, g in done} == {1, 2}
    assert sum(w.episodes for w in worked) == sum(isinstance(e, EpisodeScored) for e in events)
    assert {w.worker for w in worked} <= {worker_name_of(first), worker_name_of(second)}
    assert any(w.worker == worker_name_of(second) for w in worked)
    assert isinstance(events[-1], RunFinished)
    info = consumer(container)
    assert (info.num_pending, info.num_ack_pending) == (0, 0), topology.tasks_stream
    # The colony holds each organelle's adapter as the workers left it.
    last = {key_of(w.originator_id): w.adapter_digest for w in worked}
    assert all(host.digest(o) == digest for o, digest in last.items() if o in run.living)


def start_worker(env: dict[str, str], cwd) -> subprocess.Popen:
    return subprocess.Popen([*KARMA, "ecology", "worker"], env=env, cwd=cwd,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def worker_name_of(process: subprocess.Popen) -> str:
    return f"{socket.gethostname()}:{process.pid}"


def consumer(container):
    async def info():
        client = await nats.connect(container.endpoints.nats_url)
        try:
            work = container.topology.ecology_work
            return await client.jetstream().consumer_info(
                container.topology.tasks_stream, container.topology.worker_durable(work))
        finally:
            await client.close()

    for _ in range(3):
        try:
            return asyncio.run(info())
        except nats.js.errors.NotFoundError:
            time.sleep(1)  # the first worker has not declared it yet
    return asyncio.run(info())


def wait_for(condition, what: str, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if condition():
                return
        except nats.js.errors.NotFoundError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"waited {timeout} s for {what}")
