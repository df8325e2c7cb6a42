"""Closed loop, measured (seed 003): does an adapter trained on the swarm's own reviewed history
make the next research run better, by the Reviewer's deterministic rubric, than the frozen host
on the same corpus; and does it prefer the better answer on preference pairs it never trained
on? Learning is reported against the frozen host and against a same-compute SFT baseline.

On fresh embedded servers, with the pilot corpus:

1. run A: the swarm with the frozen local host (Gemma 3 270M), as `karma research run` does;
2. harvest run A's reviewed model calls into the training set (`karma learn harvest`);
3. rubric preferences: for each distinct Summarise_Paper prompt of run A, ``--candidates``
   answers sampled from the frozen host, each scored by the Reviewer's rubric
   (``swarm.reviewing.rubric``) against the paper as the Reviewer reads it; each is a labelled
   sample, and every two of them at least MIN_MARGIN apart a pair. These preferences come
   from the Reviewer's deterministic check (grounding, length, variety), not from the model
   being measured.
   Their ``completeness`` is the rubric's score, where harvested samples carry the review's
   full quality (faithfulness x (0.8 form + 0.2 the host's likelihood)), as
   ``learning.harvest`` labels them;
4. the reward model, then the dual-channel adapter (SFT + preference), each update gated by
   the ledger, and its deployment, which the RHI allows or refuses;
5. the same-compute baseline: an SFT-only adapter that reads as many sequences per step as the
   dual run (its SFT batch plus both halves of its pairs), same steps and rate, its gate
   open (``OPEN_GATE`` says why);
6. runs B (dual adapter) and C (SFT baseline) of the swarm on the same corpus;
7. the Reviewer's rubric of every artifact, paired across runs by (task type, paper), with
   bootstrap CIs; the adapters' implicit preference accuracy on held-out pairs and the
   reward model's score of their greedy answers to the held-out prompts (bootstrap CIs).

The held-out preferences are drawn as in 3, on summary prompts of the papers' Method,
Results and Limitations sections (run A's prompts excerpt the abstracts), and kept in a
training set of their own: neither the adapters nor the reward model train on them.

    python -m bench.learning                 # six papers, 30 steps, 4 candidates: over an hour
    python -m bench.learning --quick         # 2 papers, 4 steps, 2 candidates: ~15 min
    python -m bench.learning --papers 4 --steps 60

The exit status is 0 whether or not the aim is reached: the verdict line says which. Every
phase's wall time is printed beside this process's CPU time, so time lost to other work on the
machine shows.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import math
import os
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from adapters.gemma_host import GemmaHost, LoraFile
from adapters.llm import LanguageModel, cut_at_stop
from adapters.lora_host import OrganelleHost
from adapters.pdf import UnreadablePdfError, read_pages
from app.bootstrap import Container
from app.settings import Settings
from bench.stopwatch import Stopwatch
from domain.base import key_of
from domain.errors import DomainError
from domain.learning import (
    ConsolidationRefused,
    Learner,
    PairFormed,
    RhiMeasured,
    TrainingRunStarted,
    UpdateGated,
)
from domain.reward import RewardManifold
from domain.rubric import grounding
from domain.tasks import ArtifactProduced, Task, TaskIssued
from handlers import commands as c
from learning.config import DualConfig, load_config, load_manifold
from learning.harvest import HarvestPolicy, harvest, reviewed_calls, training_data
from learning.loop import (
    RewardModelResult,
    RunSummary,
    adapter_bytes,
    adapter_path,
    adapter_shape,
    deploy,
    ensure_learner,
    latest_reward_model,
    train,
    train_reward,
)
from learning.trainer import cut, known_dimensions
from swarm import prompts
from swarm.conductor import REVIEWED, paper_slugs
from swarm.corpus import PILOT, write_pdf
from swarm.passages import tidy
from swarm.reading import EXCERPT_CHARS, local_path
from swarm.replay import run_events as recorded_events
from swarm.reviewing import rubric
from swarm.runtime import ResearchRun, build_toolkit

TOPIC = "parameter-efficient fine-tuning (PEFT)"  # `karma research run`'s default
DUAL, BASELINE = "dual", "sft-baseline"
RUBRIC_TASKS = {"Summarise_Paper": "summary"}
"""Text tasks whose rubric reads only the answer and a source, with the purpose of the model
call that writes the answer: their candidates can be scored without running the task."""
MODEL_WRITTEN = ("Summarise_Paper", "Compare_Methods", "Critique_Claim", "Synthesise_Report")
"""Task types whose artifact the model writes; Fetch_Paper and Extract_Metrics use no model,
so their rubric cannot move between runs."""
SUMMARY_TOKENS = 90
"""The Reader's token budget for a summary (swarm.reading), so candidates are the answers the
swarm could have given."""
SUMMARY_SENTENCES = 2
"""The Reader keeps the first two distinct sentences (swarm.passages.tidy)."""
CANDIDATE_TEMPERATURE = 0.8
MIN_MARGIN = 0.1
LABELLER = "rubric"
LEARNING_RATE = 5e-4
"""Above the packaged 2e-4: a few dozen CPU steps at 2e-4 barely move a fresh LoRA."""
MAX_PROMPT_CHARS = 2048
"""A summary prompt (worked example + 1200-character excerpt) is about 1,800 characters: kept
whole, so the adapter trains on the prompt it answers in the swarm."""
REWARD_EPOCHS = 200
RESAMPLES = 10_000
MIN_HELD_OUT = 5
SEED = 0


# -- timing -------------------------------------------------------------------------------------

class Phases:
    """Wall seconds per phase, in the order they ran, and this process's CPU seconds in it:
    CPU well under cores x wall means the phase waited (on the servers, or on other work
    sharing the machine)."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.seconds: dict[str, float] = {}
        self.cpu: dict[str, float] = {}

    @contextmanager
    def timed(self, name: str) -> Iterator[None]:
        # A full run takes most of an hour on two cores: say what it is doing.
        self.console.print(f"[dim]{time.strftime('%H:%M:%S')} {name}...[/dim]")
        started, cpu = time.perf_counter(), time.process_time()
        try:
            yield
        finally:
            self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - started
            self.cpu[name] = self.cpu.get(name, 0.0) + time.process_time() - cpu


# -- statistics ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Interval:
    mean: float
    low: float | None
    high: float | None
    n: int

    def cell(self, count: bool = True) -> str:
        n = f" n={self.n}" if count else ""
        if self.low is None or self.high is None:
            return f"{self.mean:+.3f} (no CI){n}"
        return f"{self.mean:+.3f} [{self.low:+.3f}, {self.high:+.3f}]{n}"

    @property
    def above_zero(self) -> bool:
        return self.low is not None and self.low > 0


def bootstrap(values: Sequence[float], seed: int = SEED) -> Interval | None:
    """The mean and its 95% percentile-bootstrap interval (RESAMPLES resamples, seeded)."""
    import numpy as np

    if not values:
        return None
    data = np.asarray(values, dtype=float)
    if len(data) < 2:
        return Interval(float(data.mean()), None, None, len(data))
    rng = np.random.default_rng(seed)
    means = data[rng.integers(0, len(data), (RESAMPLES, len(data)))].mean(axis=1)
    low, high = np.percentile(means, [2.5, 97.5])
    return Interval(float(data.mean()), float(low), float(high), len(data))


# -- the swarm ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class SwarmRun:
    name: str
    run_id: str
    model: str
    wall: float
    load: float
    model_seconds: float
    model_calls: int
    tasks: int


def run_swarm(container: Container, name: str, model: LanguageModel,
              papers: dict[str, str]) -> SwarmRun:
    """One research run as `karma research run` does it; the model load timed apart."""
    run_id = f"rs-learning-{name.lower()}"
    kit = build_toolkit(container.settings, model)
    watch = Stopwatch()
    try:
        started = time.perf_counter()
        kit.warm_up()
        load = time.perf_counter() - started
        watch.wrap(kit.model, "complete", "model", exclusive=True)
        started = time.perf_counter()
        conductor = asyncio.run(ResearchRun(container, kit, TOPIC, run_id).run(
            papers, timeout_s=3600))
        wall = time.perf_counter() - started
    finally:
        kit.passages.close()
    return SwarmRun(name, run_id, model.model, wall, load, watch.seconds["model"],
                    watch.calls["model"], len(conductor.tasks))


def run_events(container: Container, run_id: str) -> Iterator[Any]:
    """The run's events in ledger order."""
    return (event for _, event in recorded_events(container, run_id))


@dataclass(frozen=True)
class Review:
    task_type: str
    subject: str
    """What identifies the target within its run: the paper, the persona, or '' for the
    run's one Compare_Methods and Synthesise_Report."""
    rubric: float
    quality: float
    """The Reviewer's full quality, 0..1.5: faithfulness x (0.8 form + 0.2 likelihood)."""


def reviews_of(container: Container, run_id: str) -> dict[tuple[str, str], Review]:
    """The Reviewer's artifacts of a run, each joined to its target task's TaskIssued."""
    issued: dict[str, TaskIssued] = {}
    found: dict[tuple[str, str], Review] = {}
    for event in run_events(container, run_id):
        if isinstance(event, TaskIssued):
            issued[event.task_id] = event
        elif isinstance(event, ArtifactProduced):
            task = issued.get(key_of(event.originator_id))
            if task is None or task.task_type != "Review_Artifact":
                continue
            for part in event.parts:
                if part.kind != "data" or "target_task_id" not in part.data:
                    continue
                target = issued.get(part.data["target_task_id"])
                if target is None:
                    continue
                subject = target.payload.get("paper") or target.payload.get("persona") or ""
                found[(target.task_type, subject)] = Review(
                    target.task_type, subject, float(part.data["rubric"]),
                    float(part.data["quality"]))
    return found


# -- rubric preferences -------------------------------------------------------------------------

@dataclass(frozen=True)
class Candidates:
    prompts: int
    sampled: int
    empty: int
    samples_added: int
    pairs_added: int
    too_close: int
    mean_rubric: float
    best_rubric: float
    worst_rubric: float
    sources: dict[str, str]
    """prompt -> the paper's text as the Reviewer reads it: the rubric's source."""


def paper_text(uri: str) -> str:
    """The source the Reviewer grounds a summary in: the whole paper's text."""
    try:
        return " ".join(page.text for page in read_pages(local_path(uri)))
    except UnreadablePdfError:
        return ""


def answer_of(task_type: str, raw: str) -> str:
    """What the swarm keeps of a raw continuation: its first line (the prompts' stop), tidied
    as the task does."""
    line = cut_at_stop(raw.lstrip(), prompts.STOP).strip()
    return tidy(line, SUMMARY_SENTENCES) if task_type == "Summarise_Paper" else line


def label_vector(manifold: RewardManifold, answer: str, source: str,
                 score: float) -> dict[str, float | None]:
    vector: dict[str, float | None] = dict.fromkeys(manifold.names)
    return vector | {"grounding": grounding(answer, source), "completeness": score}


def intensity_of(score: float) -> float:
    """As harvest weighs a review: a clear judgment, good or bad, teaches more."""
    return min(1.0, 0.2 + 0.8 * abs(2 * score - 1))


def scored_candidates(host: OrganelleHost, prompt: str, task_type: str, source: str,
                      count: int, seed: int) -> tuple[list[tuple[float, str]], int]:
    """``count`` answers the frozen host samples (T=0.8) to the prompt, as the swarm keeps
    them, each scored by the Reviewer's rubric against the source: the distinct non-empty
    ones, best first, and how many came out empty."""
    drawn = host.generate(None, [prompt] * count, max_new_tokens=SUMMARY_TOKENS,
                          temperature=CANDIDATE_TEMPERATURE, seed=seed)
    answers = [answer_of(task_type, sample.text) for sample in drawn]
    scored = sorted(((rubric(task_type, answer, {}, source)[0], answer)
                     for answer in dict.fromkeys(a for a in answers if a)),
                    key=lambda item: -item[0])
    return scored, sum(not answer for answer in answers)


def preference_pairs(scored: Sequence[tuple[float, str]]) -> list[tuple[str, str, float]]:
    """Every (chosen, rejected, margin) of the ranked answers whose rubric scores differ by
    at least MIN_MARGIN: with four candidates up to six pairs a prompt, not only best vs
    worst."""
    return [(chosen, rejected, min(1.0, high - low))
            for index, (high, chosen) in enumerate(scored)
            for low, rejected in scored[index + 1:] if high - low >= MIN_MARGIN]


@dataclass(frozen=True)
class Prompted:
    """A prompt to draw candidates for: what the task is, the rubric's source, its origin."""

    prompt: str
    task_type: str
    source: str
    origin: dict[str, str]


def record_preferences(container: Container, config: DualConfig, manifold: RewardManifold,
                       asked: Sequence[Prompted], count: int) -> Candidates:
    """Sample ``count`` answers per prompt from the frozen host, score each with the
    Reviewer's rubric, and record each as a labelled sample and every pair of them far
    enough apart (``preference_pairs``) in the config's training set."""
    host = OrganelleHost()
    commands: list[c.Command] = []
    scores: list[float] = []
    best_scores: list[float] = []
    worst_scores: list[float] = []
    empty = too_close = 0
    for index, item in enumerate(asked):
        seed = str(SEED + index)
        scored, blank = scored_candidates(host, item.prompt, item.task_type, item.source,
                                          count, SEED + index)
        empty += blank
        for rank, (score, answer) in enumerate(scored):
            scores.append(score)
            commands.append(c.LabelSample(
                training_set=config.training_set, prompt=item.prompt, response=answer,
                vector=label_vector(manifold, answer, item.source, score),
                intensity=intensity_of(score), safety=1.0, labeller=LABELLER,
                category=item.task_type,
                source=item.origin | {"candidate": str(rank), "seed": seed}))
        if len(scored) >= 2:
            best_scores.append(scored[0][0])
            worst_scores.append(scored[-1][0])
        pairs = preference_pairs(scored)
        too_close += not pairs
        rank_of = {answer: rank for rank, (_, answer) in enumerate(scored)}
        commands += [c.FormPair(
            training_set=config.training_set, prompt=item.prompt, chosen=chosen,
            rejected=rejected, margin=margin,
            intensity=(intensity_of(scored[rank_of[chosen]][0])
                       + intensity_of(scored[rank_of[rejected]][0])) / 2,
            safety=1.0, labeller=LABELLER, category=item.task_type,
            source=item.origin | {"chosen": str(rank_of[chosen]),
                                  "rejected": str(rank_of[rejected]), "seed": seed})
            for chosen, rejected, margin in pairs]
    # An item the set holds already records no event: the events count what was added.
    labels = [command for command in commands if isinstance(command, c.LabelSample)]
    formed = [command for command in commands if isinstance(command, c.FormPair)]
    samples_added = len(container.service.execute_batch(labels).event_ids) if labels else 0
    pairs_added = len(container.service.execute_batch(formed).event_ids) if formed else 0
    del host
    gc.collect()
    return Candidates(len(asked), count * len(asked), empty, samples_added, pairs_added,
                      too_close, _mean(scores), _mean(best_scores), _mean(worst_scores),
                      {item.prompt: item.source for item in asked})


def rubric_preferences(container: Container, config: DualConfig, manifold: RewardManifold,
                       run_id: str, count: int) -> Candidates:
    """Candidates and pairs for each distinct reviewed prompt of a rubric task of the run:
    the prompts the swarm actually answered, which the adapters train on."""
    calls = {call.prompt_digest: call for call in reviewed_calls(container, run_id)
             if RUBRIC_TASKS.get(call.task_type) == call.purpose}
    asked = []
    for call in calls.values():
        issued = next(iter(container.ledger.events.get(Task.id_for(call.task_id), limit=1)))
        asked.append(Prompted(call.prompt, call.task_type,
                              paper_text(issued.payload.get("uri", "")),
                              {"call": call.call_id}))
    return record_preferences(container, config, manifold, asked, count)


def held_out_preferences(container: Container, config: DualConfig, manifold: RewardManifold,
                         papers: dict[str, str], count: int) -> Candidates:
    """A preference set no learner trains on, in a training set of its own: summary prompts
    of the same kind as the swarm's, on the papers' other sections (Method, Results,
    Limitations) rather than their abstracts, judged by the same rubric against the same
    papers. The reward model never sees it either: it trains on the learner's set."""
    digests = {paper.slug: paper for paper in PILOT}
    asked = [Prompted(prompts.SUMMARY.format(excerpt=text[:EXCERPT_CHARS]), "Summarise_Paper",
                      paper_text(path), {"paper": slug, "section": heading})
             for slug, path in papers.items() if slug in digests
             for heading, text in digests[slug].sections if heading != "Abstract"]
    container.service.execute(c.OpenTrainingSet(training_set=config.training_set,
                                                manifold=manifold.model_dump(mode="json")))
    return record_preferences(container, config, manifold, asked, count)


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else float("nan")


# -- training -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Trained:
    learner: str
    config: DualConfig
    summary: RunSummary | None
    error: str | None
    deployed: bool | None
    refusal: str | None
    gated: tuple[UpdateGated, ...]
    lora: LoraFile | None
    """The trained adapter as the ledger recorded it, served or not."""
    timing: dict[str, float]
    """From the ledger's own timestamps: where the training run's time went."""


OPEN_GATE = {"skip": 0.01, "rollback": 0.005, "freeze": 0.0}
"""The baseline's gate, open to all but a degenerate update. Gated as the dual run is, SFT
alone starves: its reward dimensions' directions (each example's centred scores) disagree,
DCS stays near 0.02, and a measured run applied 1 update of 30. A baseline that never trains
says nothing; plain SFT with the same compute is the comparison a user would make."""


def configs(steps: int, held: float | None) -> tuple[DualConfig, DualConfig]:
    """The dual run's config and the SFT baseline's: the same sequences per step, steps and
    rate, with the preference channel off and the gate open (OPEN_GATE)."""
    common: dict[str, Any] = {"steps": steps, "learning_rate": LEARNING_RATE,
                              "max_prompt_chars": MAX_PROMPT_CHARS, "seed": SEED}
    if held is not None:
        common["held_out"] = held
    dual = load_config(learner=DUAL, sft_batch=2, pair_batch=2, **common)
    baseline = load_config(learner=BASELINE, sft_batch=dual.sft_batch + 2 * dual.pair_batch,
                           pair_batch=0, preference_weight=0.0,
                           thresholds=dual.thresholds.model_dump() | OPEN_GATE, **common)
    return dual, baseline


def train_and_deploy(container: Container, config: DualConfig) -> Trained:
    """Train the learner's adapter, then ask the ledger to serve it; a refusal is recorded
    with its reason, and the adapter is measured anyway."""
    try:
        summary = train(container, config, run=f"{config.learner}-1")
    except (DomainError, ValueError) as error:  # e.g. NotFoundError: nothing to train on
        return Trained(config.learner, config, None, f"{type(error).__name__}: {error}",
                       None, None, (), None, {})
    finally:
        gc.collect()
    deployed = deploy(container, config.learner, summary.digest)
    events = list(container.ledger.events.get(Learner.id_for(config.learner)))
    refusal = None
    if not deployed:
        refused = [e for e in events if isinstance(e, ConsolidationRefused)
                   and e.digest == summary.digest]
        refusal = (f"RHI {refused[-1].rhi:.3f} is below the consolidation threshold "
                   f"{refused[-1].threshold:.2f}" if refused else "refused")
    gated = tuple(e for e in events if isinstance(e, UpdateGated) and e.run == summary.run)
    lora = LoraFile(adapter_path(container, config.learner, summary.digest), summary.digest)
    return Trained(config.learner, config, summary, None, deployed, refusal, gated, lora,
                   run_timing(events, summary.run))


def run_timing(events: Sequence[Any], run: str) -> dict[str, float]:
    """Seconds from the run's start to its first gated update (loading the host, scoring the
    data, the first step), per update after that (median), and after the last update (saving
    the adapter, measuring its full RHI)."""
    import statistics

    started = [e.timestamp for e in events if isinstance(e, TrainingRunStarted) and e.run == run]
    gates = [e.timestamp for e in events if isinstance(e, UpdateGated) and e.run == run]
    measured = [e.timestamp for e in events if isinstance(e, RhiMeasured) and e.run == run]
    if not (started and gates and measured):
        return {}
    gaps = [(b - a).total_seconds() for a, b in zip(gates, gates[1:], strict=False)]
    return {"start": (gates[0] - started[0]).total_seconds(),
            "update": statistics.median(gaps) if gaps else float("nan"),
            "after": (measured[-1] - gates[-1]).total_seconds()}


# -- held-out preferences -----------------------------------------------------------------------

@dataclass(frozen=True)
class HeldOut:
    pairs: int
    prompts: int
    accuracy: dict[str, Interval | None]
    """learner -> share of pairs whose implicit margin favours the chosen answer, with a 95%
    bootstrap interval over prompts (a prompt's pairs share answers: not independent)."""
    wins: dict[str, tuple[int, int]]
    reward: dict[str, Interval | None]
    """learner -> reward-model scalar of its greedy answers less the frozen host's."""
    reward_known: dict[str, Interval | None]
    """The same over the labelled dimensions only."""
    rubric: dict[str, Interval | None]
    """The Reviewer's rubric of the greedy answers to held-out summary prompts, less the
    frozen host's."""
    known: tuple[str, ...]


def held_out_config(config: DualConfig) -> DualConfig:
    """Where the held-out preferences are kept: a training set no learner trains on."""
    return config.model_copy(update={"training_set": f"{config.training_set}-held-out"})


def cluster_bootstrap(groups: Sequence[Sequence[float]], seed: int = SEED) -> Interval | None:
    """The pooled mean of the groups' values and its 95% percentile interval, resampling
    whole groups (RESAMPLES resamples, seeded)."""
    import numpy as np

    groups = [list(group) for group in groups if group]
    if not groups:
        return None
    sums = np.asarray([sum(group) for group in groups], dtype=float)
    sizes = np.asarray([len(group) for group in groups], dtype=float)
    mean = float(sums.sum() / sizes.sum())
    if len(groups) < 2:
        return Interval(mean, None, None, int(sizes.sum()))
    picks = np.random.default_rng(seed).integers(0, len(groups), (RESAMPLES, len(groups)))
    low, high = np.percentile(sums[picks].sum(axis=1) / sizes[picks].sum(axis=1), [2.5, 97.5])
    return Interval(mean, float(low), float(high), int(sizes.sum()))


def evaluate_held_out(container: Container, trained: Sequence[Trained],
                      pairs: Sequence[PairFormed], sources: dict[str, str]) -> HeldOut:
    """Each adapter against the frozen host on pairs no run trained on: its implicit
    preference (DPO's margin > 0) and the reward model's score of its greedy answers."""
    import torch

    config = trained[0].config
    host = OrganelleHost()
    ready = [t for t in trained if t.summary is not None]
    for item in ready:
        digest = item.summary.digest
        host.load(item.learner, adapter_bytes(container, item.learner, digest), digest,
                  shape=adapter_shape(container, item.learner, digest))
    accuracy: dict[str, Interval | None] = {}
    wins: dict[str, tuple[int, int]] = {}
    for item in ready:
        won: dict[str, list[float]] = {}
        for start in range(0, len(pairs), 4):
            chunk = pairs[start:start + 4]
            texts = ([(cut(p.prompt, config.max_prompt_chars), p.chosen) for p in chunk]
                     + [(cut(p.prompt, config.max_prompt_chars), p.rejected) for p in chunk])
            with torch.no_grad(), host.lock:
                policy, _ = host.answer_logprobs(item.learner, texts)
                reference, _ = host.answer_logprobs(None, texts)
            ratio = policy - reference
            margins = ratio[:len(chunk)] - ratio[len(chunk):]
            for pair, margin in zip(chunk, margins.tolist(), strict=True):
                won.setdefault(pair.prompt, []).append(float(margin > 0))
        accuracy[item.learner] = cluster_bootstrap(list(won.values()))
        wins[item.learner] = (int(sum(map(sum, won.values()))), len(pairs))

    asked = list(dict.fromkeys(p.prompt for p in pairs))
    category = {p.prompt: p.category for p in pairs}
    answers = {name: [answer_of(category[prompt], sample.text) or "(no answer)"
                      for prompt, sample in zip(asked, host.sample(
                          name, asked, max_new_tokens=SUMMARY_TOKENS, temperature=0.0,
                          seed=SEED), strict=True)]
               for name in [None, *(t.learner for t in ready)]}
    data = training_data(container, config.training_set)
    manifold = data.manifold
    reward = latest_reward_model(container, DUAL if any(t.learner == DUAL for t in ready)
                                 else ready[0].learner, manifold)
    known = tuple(known_dimensions(manifold, data.samples))
    scored = {name: reward.score_many(list(zip(asked, said, strict=True)))
              for name, said in answers.items()}

    def known_mean(output: Any) -> float:
        return _mean([manifold.dimension(n).unit(output.vector[n]) for n in known])

    def rubric_of(prompt: str, said: str) -> float:
        return rubric(category[prompt], said, {}, sources[prompt])[0]

    base = scored[None]
    graded = [i for i, prompt in enumerate(asked) if prompt in sources]
    result_reward, result_known, result_rubric = {}, {}, {}
    for item in ready:
        mine = scored[item.learner]
        result_reward[item.learner] = bootstrap(
            [a.scalar - b.scalar for a, b in zip(mine, base, strict=True)])
        result_known[item.learner] = bootstrap(
            [known_mean(a) - known_mean(b) for a, b in zip(mine, base, strict=True)])
        result_rubric[item.learner] = bootstrap(
            [rubric_of(asked[i], answers[item.learner][i]) - rubric_of(asked[i], answers[None][i])
             for i in graded])
    del host
    gc.collect()
    return HeldOut(len(pairs), len(asked), accuracy, wins, result_reward, result_known,
                   result_rubric, known)


# -- tables -------------------------------------------------------------------------------------

def table(title: str, *columns: str) -> Table:
    # As wide as its title, so the title reads on one line rather than wrapped in a column.
    made = Table(title=title, title_justify="left", min_width=min(len(title), 150))
    for index, column in enumerate(columns):
        made.add_column(column, justify="left" if index == 0 else "right")
    return made


def comparison_table(title: str, runs: dict[str, dict[tuple[str, str], Review]],
                     value: Callable[[Review], float]) -> tuple[Table, dict[str, Interval | None]]:
    """Per task type, then over all and over the model-written types: each run's mean and
    the paired differences B-A, C-A, B-C with bootstrap CIs. Returns the overall diffs."""
    names = list(runs)
    contrasts = _contrasts(names)
    made = table(title, "task type", "n " + "/".join(names), *(f"mean {n}" for n in names),
                 "pairs " + "/".join(f"{x}{y}" for x, y in contrasts),
                 *(f"{x} - {y} [95% CI]" for x, y in contrasts))
    groups = [(t, {t}) for t in REVIEWED] + [("all reviewed artifacts", set(REVIEWED)),
                                            ("model-written types", set(MODEL_WRITTEN))]
    overall: dict[str, Interval | None] = {}
    for label, types in groups:
        chosen = {n: {k: r for k, r in runs[n].items() if k[0] in types} for n in names}
        cells = ["/".join(str(len(chosen[n])) for n in names)]
        cells += [f"{_mean([value(r) for r in chosen[n].values()]):.3f}" if chosen[n] else "-"
                  for n in names]
        shared = [sorted(set(chosen[x]) & set(chosen[y])) for x, y in contrasts]
        cells.append("/".join(str(len(keys)) for keys in shared))
        for (x, y), keys in zip(contrasts, shared, strict=True):
            interval = bootstrap([value(chosen[x][k]) - value(chosen[y][k]) for k in keys])
            cells.append(interval.cell(count=False) if interval else "-")
            if label == "all reviewed artifacts":
                overall[f"{x}-{y}"] = interval
        made.add_row(label, *cells, end_section=label == REVIEWED[-1])
    return made, overall


def _contrasts(names: Sequence[str]) -> list[tuple[str, str]]:
    wanted = [("B", "A"), ("C", "A"), ("B", "C")]
    return [(x, y) for x, y in wanted if x in names and y in names]


def print_training(console: Console, trained: Sequence[Trained]) -> None:
    made = table("Training config (what differs between the two learners is the point)",
                 "knob", *(t.learner for t in trained))
    for knob, read in (
            ("steps", lambda k: k.steps), ("sft_batch", lambda k: k.sft_batch),
            ("pair_batch", lambda k: k.pair_batch),
            ("sequences per step (sft + 2 x pairs)", lambda k: k.sft_batch + 2 * k.pair_batch),
            ("sft_weight", lambda k: k.sft_weight),
            ("preference_weight", lambda k: k.preference_weight),
            ("beta", lambda k: k.beta), ("learning_rate", lambda k: k.learning_rate),
            ("rank / alpha", lambda k: f"{k.rank} / {k.alpha}"),
            ("max_prompt_chars", lambda k: k.max_prompt_chars),
            ("held_out", lambda k: k.held_out),
            ("gate skip / rollback / freeze", lambda k: f"{k.thresholds.skip} / "
                                                        f"{k.thresholds.rollback} / "
                                                        f"{k.thresholds.freeze}"),
            ("consolidate above", lambda k: k.thresholds.consolidate),
            ("seed", lambda k: k.seed)):
        made.add_row(knob, *(str(read(t.config)) for t in trained))
    console.print(made)

    made = table("Adapters: what they trained on, their health (RHI), and the deployment gate",
                 "measure", *(t.learner for t in trained))

    def row(label: str, read: Callable[[Trained], str]) -> None:
        made.add_row(label, *(read(t) if t.summary else "-" for t in trained))

    made.add_row("trained", *("yes" if t.summary else f"no: {t.error}" for t in trained))
    row("adapter", lambda t: t.summary.digest[:19])
    row("SFT examples / pairs / held-out pairs",
        lambda t: f"{t.summary.examples} / {t.summary.pairs} / {t.summary.held_out}")
    row("sequences read per update (measured)",
        lambda t: f"{_mean([g.examples + 2 * g.pairs for g in t.gated]):.1f}")
    row("s to the first update (load host, score data, step 1)",
        lambda t: _seconds(t.timing.get("start")))
    row("s per update after it (median)", lambda t: _seconds(t.timing.get("update")))
    row("s after the last update (save, full RHI)", lambda t: _seconds(t.timing.get("after")))
    row("gate decisions", lambda t: ", ".join(
        f"{k} {v}" for k, v in sorted(t.summary.decisions.items())))
    for component in ("dcs", "gvs", "mss", "cdrs", "lrps"):
        row(f"  {component.upper()}", lambda t, k=component: f"{t.summary.components[k]:.3f}")
    row("RHI (full)", lambda t: f"{t.summary.rhi:.3f}")
    row("slow loop", lambda t: t.summary.slow_decision)
    row("deployed (consolidated)", lambda t: "yes" if t.deployed else f"no: {t.refusal}")
    console.print(made)

    steps = max((len(t.gated) for t in trained), default=0)
    if not steps:
        return
    made = table("Every update as the ledger gated it (UpdateGated): partial RHI = "
                 "(0.25 DCS + 0.15 GVS) / 0.40", "step",
                 *(f"{t.learner}: partial RHI / decision / loss" for t in trained))
    for step in range(steps):
        cells = []
        for t in trained:
            if step < len(t.gated):
                g = t.gated[step]
                cells.append(f"{g.partial_rhi:.3f} / {g.decision.value} / {g.loss:.3f}")
            else:
                cells.append("-")
        made.add_row(str(step + 1), *cells)
    console.print(made)


def _seconds(value: float | None) -> str:
    return "-" if value is None or math.isnan(value) else f"{value:.1f}"


def print_held_out(console: Console, result: HeldOut | None, skipped: str) -> None:
    if result is None:
        console.print(f"[bold]Held-out preferences[/bold]: {skipped}")
        return
    made = table(f"Held-out preferences: {result.pairs} pairs on {result.prompts} prompts no "
                 "learner or reward model trained on (summaries of the papers' Method, Results "
                 "and Limitations sections); each adapter against the frozen host",
                 "measure", *result.accuracy)
    made.add_row("pairs whose implicit margin favours the chosen answer",
                 *(f"{won}/{trials}" for won, trials in result.wins.values()))
    made.add_row("  share, 95% CI bootstrapped over prompts (the frozen host's margins are all "
                 "0: it favours neither)",
                 *(f"{i.mean:.2f} [{i.low:.2f}, {i.high:.2f}]" if i and i.low is not None
                   else "-" for i in result.accuracy.values()))
    made.add_row("reward model scalar of greedy answers, adapter - frozen host [bootstrap CI]",
                 *(i.cell() if i else "-" for i in result.reward.values()))
    made.add_row(f"  the same over the labelled dimensions only ({', '.join(result.known)})",
                 *(i.cell() if i else "-" for i in result.reward_known.values()))
    made.add_row("Reviewer's rubric of greedy answers (summary prompts), adapter - frozen host",
                 *(i.cell() if i else "-" for i in result.rubric.values()))
    console.print(made)
    console.print("The reward model's scalar is the mean of all its outputs; only "
                  f"{', '.join(result.known)} were ever labelled, the other dimensions are "
                  "untrained outputs (hence the second row).")


# -- the benchmark ------------------------------------------------------------------------------

def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--papers", type=int, default=None, choices=range(1, len(PILOT) + 1))
    parser.add_argument("--steps", type=int, default=None)
    parser.add_argument("--candidates", type=int, default=None)
    parser.add_argument("--held-out", type=float, default=None,
                        help="share of pairs kept out of training (default: the config's)")
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: 2 papers, 4 steps, 2 candidates")
    args = parser.parse_args()
    quick = (2, 4, 2) if args.quick else (6, 30, 4)
    papers = args.papers or quick[0]
    steps = args.steps or quick[1]
    candidates = args.candidates or quick[2]

    import torch

    from app import logs
    from workers.work_queue import QUEUE_LOG

    # Progress is the tables; only warnings and errors are worth a log line here.
    logs.configure(logging.WARNING)
    QUEUE_LOG.setLevel(logging.WARNING)
    console = Console(width=170)
    machine = table("Machine", "measure", "value")
    machine.add_row("CPU cores (os.cpu_count())", str(os.cpu_count()))
    machine.add_row("torch threads", str(torch.get_num_threads()))
    machine.add_row("host", "Gemma 3 270M (GGUF Q4_K_M, de-quantised to float32), CPU")
    machine.add_row("papers / steps / candidates per prompt", f"{papers} / {steps} / {candidates}")
    machine.add_row("load average at start (1, 5, 15 min)", _load())
    console.print(machine)

    phases = Phases(console)
    dual_config, baseline_config = configs(steps, args.held_out)
    failures: list[str] = []
    with tempfile.TemporaryDirectory() as folder:
        home = Path(folder)
        corpus = home / "corpus"
        corpus.mkdir()
        paths = [write_pdf(paper, corpus) for paper in PILOT[:papers]]
        chosen = {slug: str(path.resolve()) for slug, path in paper_slugs(paths).items()}
        container = Container(Settings(home=home / "karma"))
        try:
            report = closed_loop(console, container, chosen, dual_config, baseline_config,
                                 candidates, phases, failures)
        finally:
            container.close()
            from adapters import embedded_nats, embedded_postgres

            embedded_postgres.stop(home / "karma" / "postgres")
            embedded_nats.stop(home / "karma" / "nats")

    total = sum(phases.seconds.values())
    made = table(f"Where the time goes ({os.cpu_count()} cores; load average at the end "
                 f"{_load()})", "phase", "wall s", "share", "CPU s of this process")
    for name, seconds in phases.seconds.items():
        made.add_row(name, f"{seconds:.1f}", f"{seconds / total:.0%}",
                     f"{phases.cpu[name]:.1f}")
    made.add_row("total", f"{total:.1f}", "100%", f"{sum(phases.cpu.values()):.1f}",
                 end_section=True)
    console.print(made)
    for failure in failures:
        console.print(f"[red]failed or skipped[/red]: {failure}")
    console.print(report)


def _load() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def closed_loop(console: Console, container: Container, papers: dict[str, str],
                dual_config: DualConfig, baseline_config: DualConfig, candidates: int,
                phases: Phases, failures: list[str]) -> str:
    """Every phase on one ledger; returns the verdict line."""
    manifold = load_manifold()
    runs: list[SwarmRun] = []
    with phases.timed("run A: swarm, frozen host"):
        runs.append(run_swarm(container, "A", GemmaHost(), papers))
    gc.collect()

    with phases.timed("harvest run A"):
        ensure_learner(container, dual_config, manifold, host_model="gemma-3-270m")
        harvested = harvest(container, dual_config.training_set, HarvestPolicy(),
                            run_id=runs[0].run_id)
    made = table(f"Harvest of run A into training set {dual_config.training_set!r}",
                 "harvested", "count")
    for name, value in vars(harvested).items():
        made.add_row(name.replace("_", " "), str(value))
    console.print(made)

    with phases.timed("rubric candidates (frozen host)"):
        drawn = rubric_preferences(container, dual_config, manifold, runs[0].run_id,
                                   candidates)
    print_candidates(console, "Rubric preferences: the Reviewer's deterministic check judges "
                     "answers the frozen host sampled (T=0.8) to run A's summary prompts", drawn)

    with phases.timed("held-out candidates (frozen host)"):
        unseen = held_out_preferences(container, held_out_config(dual_config), manifold,
                                      papers, candidates)
    print_candidates(console, "Held-out preferences: the same check judges answers the frozen "
                     "host sampled to summary prompts on the papers' other sections", unseen)

    rewards: list[RewardModelResult] = []
    with phases.timed("reward models"):
        for config in (dual_config, baseline_config):
            ensure_learner(container, config, manifold, host_model="gemma-3-270m")
            rewards.append(train_reward(container, config, epochs=REWARD_EPOCHS, seed=SEED))
    made = table("Reward model (MiniLM + head), validation loss per labelled dimension",
                 "learner", "digest", "samples", "held out",
                 *(n for n in rewards[0].losses if rewards[0].losses[n] is not None))
    for config, result in zip((dual_config, baseline_config), rewards, strict=True):
        made.add_row(config.learner, result.digest[:19], str(result.samples),
                     str(result.validation), *(f"{v:.4f}" for v in result.losses.values()
                                               if v is not None))
    console.print(made)

    with phases.timed("dual-channel training (+ RHI, deploy)"):
        dual = train_and_deploy(container, dual_config)
    with phases.timed("SFT baseline training (+ RHI, deploy)"):
        baseline = train_and_deploy(container, baseline_config)
    trained = (dual, baseline)
    print_training(console, trained)
    for item in trained:
        if item.error:
            failures.append(f"training {item.learner}: {item.error}")

    for name, item in (("B", dual), ("C", baseline)):
        if item.lora is None:
            failures.append(f"run {name}: no {item.learner} adapter to run with")
            continue
        with phases.timed(f"run {name}: swarm, {item.learner} adapter"):
            try:
                runs.append(run_swarm(container, name, GemmaHost(lora=item.lora), papers))
            except Exception as error:  # a failed run is reported, the others still count
                failures.append(f"run {name}: {type(error).__name__}: {error}")
        gc.collect()
    made = table("Research runs on the same corpus", "run", "model", "tasks", "wall s",
                 "model s (share, calls)", "model load s")
    for run in runs:
        made.add_row(run.name, run.model, str(run.tasks), f"{run.wall:.1f}",
                     f"{run.model_seconds:.1f} ({run.model_seconds / run.wall:.0%}, "
                     f"{run.model_calls})", f"{run.load:.1f}")
    console.print(made)

    with phases.timed("evaluation"):
        reviews = {run.name: reviews_of(container, run.run_id) for run in runs}
        rubric_table, overall = comparison_table(
            "Reviewer's rubric (deterministic: grounding, completeness) per artifact, "
            "paired by (task type, paper)", reviews, lambda r: r.rubric)
        console.print(rubric_table)
        quality_table, _ = comparison_table(
            "Reviewer's FULL quality (0..1.5) = faithfulness x (0.8 form + 0.2 likelihood): in "
            "B and C the likelihood is the adapted model's own", reviews, lambda r: r.quality)
        console.print(quality_table)
        kept = training_data(container, held_out_config(dual_config).training_set).pairs
        result, skipped = None, ""
        if len(kept) < MIN_HELD_OUT:
            skipped = (f"only {len(kept)} held-out pair(s); at least {MIN_HELD_OUT} are needed "
                       "for a figure worth reporting, so none is reported")
        elif not any(t.summary for t in trained):
            skipped = "no adapter was trained, so there is nothing to measure"
        else:
            result = evaluate_held_out(container, trained, kept, unseen.sources)
        if skipped:
            failures.append(f"held-out preferences: {skipped}")
    print_held_out(console, result, skipped)
    return verdict(overall, result)


def print_candidates(console: Console, title: str, drawn: Candidates) -> None:
    made = table(title, "measure", "value")
    for label, value in (
            ("distinct prompts", drawn.prompts), ("answers sampled", drawn.sampled),
            ("empty answers (left out)", drawn.empty),
            ("samples added (labeller 'rubric')", drawn.samples_added),
            (f"pairs added (every two answers >= {MIN_MARGIN} apart)", drawn.pairs_added),
            ("prompts with no pair (answers too close)", drawn.too_close),
            ("mean rubric of the candidates", f"{drawn.mean_rubric:.3f}"),
            ("mean rubric, best / worst per prompt",
             f"{drawn.best_rubric:.3f} / {drawn.worst_rubric:.3f}")):
        made.add_row(label, str(value))
    console.print(made)


def verdict(overall: dict[str, Interval | None], held: HeldOut | None) -> str:
    def said(interval: Interval | None, who: str) -> str:
        if interval is None:
            return f"{who}: not measured"
        beats = "yes" if interval.above_zero else "no"
        return f"{who}: {beats} ({interval.cell()})"

    by_reward = held.reward_known.get(DUAL) if held else None
    return ("verdict (95% CIs excluding 0): by the Reviewer's rubric over all reviewed "
            "artifacts, " + said(overall.get("B-A"), "B beats A") + "; "
            + said(overall.get("B-C"), "B beats C") + "; on the held-out prompts by the reward "
            "model (labelled dimensions), " + said(by_reward, "the dual adapter beats the host"))


if __name__ == "__main__":
    main()
