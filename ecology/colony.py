"""One ecology run in one process (seed 002): the colony's organelles answer checked tasks on
the frozen host, earn and spend energy, learn from their own checked answers, starve, and
merge when the assimilation gate lets them. Every step is a command, so every step is an
event of the ledger.

Learning is expert iteration from rewards only: an organelle samples several answers to each
task, the checker keeps those it passes, and the organelle trains on what it got right. No
labelled answer is ever given to an organelle.
"""

from __future__ import annotations

import hashlib
import random
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal

from adapters.lora_host import OrganelleHost
from app.bootstrap import Container
from domain.assimilation import Accuracy, accuracy, uplift
from domain.ecology import ENERGY_AMOUNTS, Colony, Organelle, effective_population, gini
from domain.routing import Arm, thompson, ucb_batch
from ecology.config import EcologyConfig
from ecology.families import FAMILIES, Problem, check, held_out, training_stream
from ecology.prompts import demonstrations, prompt
from ecology.work import AssignedTask, Assignment, Perform, Worked, perform, recorded_work
from handlers import commands as c

Cell = tuple[str, int]
Progress = Callable[[str], None]


@dataclass
class EcologyRun:
    container: Container
    host: OrganelleHost
    config: EcologyConfig
    run_id: str
    progress: Progress = lambda _: None
    performer: Perform | None = None
    """Who does a generation's work: this process by default, workers when given."""
    living: list[str] = field(default_factory=list, init=False)
    organelles: dict[str, Arm] = field(default_factory=dict, init=False)
    """What each organelle's answers scored: Thompson's or UCB1's belief about it."""
    niches: dict[str, Counter[str]] = field(default_factory=dict, init=False)
    """Answers per family of each organelle: its species is the family it answers most."""
    compute_seconds: float = field(default=0.0, init=False)
    """The organelles' sampling and training: what the same-compute baseline is given."""
    founded: int = field(default=0, init=False)
    top_ups: Counter[str] = field(default_factory=Counter, init=False)

    def __post_init__(self) -> None:
        self.performer = self.performer or self.perform_here
        self.rng = random.Random(f"ecology/{self.config.seed}")
        self.policy = self.config.energy.policy()
        difficulties = self.config.difficulties
        per_difficulty = -(-self.config.held_out_per_family // len(difficulties))
        self.holdout = {name: held_out(FAMILIES[name], self.config.seed, per_difficulty,
                                       difficulties) for name in self.config.families}
        self._excluded = {p.question for problems in self.holdout.values() for p in problems}
        self.demos = {name: demonstrations(FAMILIES[name], self.config.few_shot,
                                           self._excluded)
                      for name in self.config.families}
        self.streams = {(name, d): training_stream(FAMILIES[name], self.rng, d, self._excluded)
                        for name in self.config.families for d in self.config.difficulties}
        self.cells: dict[Cell, Arm] = {cell: Arm() for cell in self.streams}

    # -- the run ------------------------------------------------------------------------

    def run(self, generations: int | None = None) -> None:
        self.begin()
        for generation in range(1, (generations or self.config.generations) + 1):
            if not self.living:
                self.progress("every organelle was culled")
                break
            self.generation(generation)
            if generation % self.config.assimilation.every == 0:
                self.assimilate(generation)
        self.finish()

    def begin(self) -> None:
        digest = "sha256:" + hashlib.sha256(self.config.model_dump_json().encode()).hexdigest()
        self._execute(c.StartRun(run_id=self.run_id, workflow="ecology", seed=self.config.seed,
                                 config_digest=digest, code_version="ecology-1"),
                      c.FoundColony(run_id=self.run_id, colony_id=self.run_id,
                                    config_digest=digest,
                                    energy={k: getattr(self.policy, k) for k in ENERGY_AMOUNTS},
                                    strikes_to_cull=self.policy.strikes_to_cull))
        for index in range(self.config.population):
            self._spawn(f"{self.run_id}-o{index + 1}", seed=self.config.seed * 1000 + index)
        self.progress("scoring the frozen host on the held-out sets")
        self.score_holdout(None, generation=0)

    def generation(self, generation: int) -> None:
        self.progress(f"generation {generation}: {len(self.living)} organelles")
        tasks: dict[str, list[AssignedTask]] = {o: [] for o in self.living}
        count, routing = self.config.tasks_per_generation, self.config.routing
        cells = ucb_batch(self.cells, count, routing.cell_exploration)
        for cell, organelle in zip(cells, self._choose(count), strict=True):
            problem = next(self.streams[cell])
            tasks[organelle].append(AssignedTask(
                family=cell[0], difficulty=cell[1], question=problem.question,
                answer=problem.answer, prompt=prompt(problem.question, self.demos[cell[0]]),
                cell_success=self.cells[cell].mean if self.cells[cell].pulls else 0.0))
        learning = self.config.learning
        jobs = [Assignment(run_id=self.run_id, organelle_id=o, generation=generation,
                           adapter_digest=self.host.digest(o), tasks=assigned,
                           samples_per_prompt=learning.samples_per_prompt,
                           max_new_tokens=learning.max_new_tokens,
                           temperature=learning.temperature,
                           steps=learning.steps_per_generation,
                           seed=self.rng.randrange(2**31), rank=learning.rank,
                           alpha=learning.alpha, learning_rate=learning.learning_rate)
                for o, assigned in tasks.items() if assigned]
        scores: list[float] = []
        for done in self.performer(jobs):
            self.compute_seconds += done.seconds
            for cell, score in done.scores:
                self.cells[cell] = self.cells[cell].pulled(score)
                self.organelles[done.organelle_id] = (
                    self.organelles[done.organelle_id].pulled(score))
                self.niches.setdefault(done.organelle_id, Counter())[cell[0]] += 1
                scores.append(score)
        living = self._cull()  # a work's compute can cull: no ticket or top-up for the culled
        top_ups = [organelle.organelle_id for organelle in living
                   if self.policy.top_up(organelle.purse, organelle.roi)]
        self.top_ups.update(top_ups)
        self._execute(*(c.TopUpEnergy(run_id=self.run_id, colony_id=self.run_id,
                                      organelle_id=o, generation=generation)
                        for o in top_ups))
        self._execute(*(c.ChargeTicket(run_id=self.run_id, colony_id=self.run_id,
                                       organelle_id=o, generation=generation)
                        for o in self.living))
        balances = [organelle.purse.balance for organelle in self._cull()]
        self._execute(c.CloseGeneration(
            run_id=self.run_id, colony_id=self.run_id, generation=generation,
            living=len(self.living), culled=self.founded - len(self.living),
            episodes=len(scores), mean_score=sum(scores) / len(scores) if scores else 0.0,
            energy_total=sum(balances, Decimal(0)), energy_gini=gini(balances),
            effective_population=effective_population(balances),
            species=dict(Counter(self._niche(o) for o in self.living)),
            top_ups=len(top_ups)))

    def _niche(self, organelle: str) -> str:
        counts = self.niches.get(organelle)
        return counts.most_common(1)[0][0] if counts else "none yet"

    def _choose(self, count: int) -> list[str]:
        """The organelle answering each of a generation's ``count`` tasks."""
        arms = {o: self.organelles[o] for o in self.living}
        if self.config.routing.organelle_choice == "ucb":
            return ucb_batch(arms, count, self.config.routing.organelle_exploration)
        return [thompson(arms, self.rng) for _ in range(count)]

    def perform_here(self, jobs: list[Assignment]) -> list[Worked]:
        """The generation's work in this process, on this host."""
        done = []
        for job in jobs:
            self._execute(*perform(self.host, job, worker="colony"))
            recorded = recorded_work(self.container.ledger, job)
            assert recorded is not None, "the work was recorded in the transaction above"
            done.append(recorded)
        return done

    def _cull(self) -> list[Organelle]:
        """Drop the culled from the living; the living organelles as the ledger holds them."""
        living = []
        for name in list(self.living):
            organelle = self._organelle(name)
            if organelle.culled:
                self.living.remove(name)
                self.host.drop(name)
                self.progress(f"{name} was culled")
            else:
                living.append(organelle)
        return living

    # -- assimilation ----------------------------------------------------------------------

    def assimilate(self, generation: int) -> None:
        """Test the best organelle against the frozen host on fresh problems; if the gate
        passes and a partner lives, merge them (sum of deltas), score the merged adapter on
        the held-out sets against the candidate, and keep the child only if it does better."""
        gate = self.config.assimilation.gate()
        candidate = max(self.living, key=lambda o: (self.organelles[o].mean, o))
        chosen = self._organelle(candidate)
        problems = [(cell, next(self.streams[cell])) for cell in self.streams
                    for _ in range(-(-gate.min_samples // len(self.streams)))]
        control = self._greedy_scores(None, problems)
        treatment = self._greedy_scores(candidate, problems)
        test = uplift(control, treatment)
        verdict = gate.candidate(test)
        attempt = {"generation": generation, "candidate": candidate,
                   "control_mean": test.control_mean, "treatment_mean": test.treatment_mean,
                   "uplift": test.uplift, "low": test.low, "high": test.high,
                   "p_value": test.p_value, "n_control": test.n_control,
                   "n_treatment": test.n_treatment, "threshold": gate.threshold,
                   "alpha": gate.alpha, "min_samples": gate.min_samples,
                   "min_holdout": gate.min_holdout,
                   "candidate_energy": chosen.purse.balance, "candidate_roi": chosen.roi,
                   "candidate_top_ups": self.top_ups[candidate]}
        partners = [o for o in self.living if o != candidate]
        if not verdict.passed or not partners:
            reasons = verdict.reasons or ("no living partner to merge with",)
            self._execute(c.RecordAssimilation(run_id=self.run_id, colony_id=self.run_id,
                                               attempt={**attempt, "passed": False,
                                                        "reasons": reasons}))
            return
        partner = max(partners, key=lambda o: (self.organelles[o].mean, o))
        child = f"{self.run_id}-m{generation}"
        certificate = self.host.merge([candidate, partner], [0.5, 0.5], child)
        before = self._holdout_accuracy(candidate)
        after = self._holdout_accuracy(child)
        merged = gate.merged(before, after)
        self._execute(
            c.RecordAssimilation(run_id=self.run_id, colony_id=self.run_id, attempt={
                **attempt, "holdout_before": (before.correct, before.total),
                "holdout_after": (after.correct, after.total), "passed": merged.passed,
                "reasons": merged.reasons}),
            c.RecordMerge(run_id=self.run_id, colony_id=self.run_id, merge={
                "generation": generation, "child": child,
                "child_digest": certificate.child_digest, "parents": certificate.parents,
                "weights": tuple(certificate.weights), "method": certificate.method,
                "relative_error": certificate.relative_error}))
        if merged.passed:
            self._execute(c.SpawnOrganelle(run_id=self.run_id, colony_id=self.run_id,
                                           organelle_id=child,
                                           adapter_digest=certificate.child_digest,
                                           parents=[candidate, partner]))
            self.living.append(child)
            self.organelles[child] = Arm()
            self.founded += 1
        else:
            self.host.drop(child)

    def _greedy_scores(self, adapter: str | None, problems: list[tuple[Cell, Problem]]
                       ) -> list[float]:
        prompts = [prompt(p.question, self.demos[cell[0]]) for cell, p in problems]
        samples = self.host.sample(adapter, prompts, max_new_tokens=
                                   self.config.learning.max_new_tokens, temperature=0, seed=0)
        return [check(FAMILIES[cell[0]], p, s.text).score
                for (cell, p), s in zip(problems, samples, strict=True)]

    def _holdout_accuracy(self, adapter: str | None) -> Accuracy:
        problems = [((name, p.difficulty), p) for name, ps in self.holdout.items() for p in ps]
        scores = self._greedy_scores(adapter, problems)
        return accuracy(int(sum(scores)), len(scores))

    # -- the end ---------------------------------------------------------------------------

    def finish(self) -> None:
        generation = self._colony().generation
        for organelle in self.living:
            self.score_holdout(organelle, generation)
        if self.config.baseline.supervised:
            self.train_baseline(generation)
        self._execute(c.FinishRun(run_id=self.run_id, outcome="succeeded",
                                  summary=f"{len(self.living)} organelles living"))

    def score_holdout(self, adapter: str | None, generation: int) -> None:
        digest = self.host.digest(adapter) if adapter else None
        commands = []
        for name, problems in self.holdout.items():
            scores = self._greedy_scores(adapter, [((name, p.difficulty), p) for p in problems])
            commands.append(c.ScoreHoldout(run_id=self.run_id, colony_id=self.run_id,
                                           generation=generation, adapter=adapter,
                                           adapter_digest=digest, family=name,
                                           correct=int(sum(scores)), total=len(scores)))
        self._execute(*commands)

    def train_baseline(self, generation: int) -> None:
        """A fresh LoRA trained on labelled answers from the same cells for as long as the
        colony's organelles computed, then scored on the same held-out sets: what the same
        compute buys with supervision the colony never had."""
        baseline, settings = f"{self.run_id}-supervised", self.config.baseline
        self.progress(f"supervised baseline: {self.compute_seconds:.0f} s of compute")
        self.host.spawn(baseline, seed=self.config.seed * 1000 + 999)
        rng = random.Random(f"baseline/{self.config.seed}")
        streams = {cell: training_stream(FAMILIES[cell[0]], rng, cell[1], self._excluded)
                   for cell in self.streams}
        cells, steps, loss, examples = list(streams), 0, None, 0
        started = time.perf_counter()
        while (time.perf_counter() - started < self.compute_seconds
               and steps < settings.max_steps):
            batch = []
            for _ in range(settings.batch):
                cell = rng.choice(cells)
                problem = next(streams[cell])
                batch.append((prompt(problem.question, self.demos[cell[0]]), problem.answer))
            loss = self.host.train(baseline, batch)
            steps, examples = steps + 1, examples + len(batch)
        seconds = time.perf_counter() - started
        self._execute(c.RecordBaseline(run_id=self.run_id, colony_id=self.run_id, baseline={
            "adapter": baseline, "adapter_digest": self.host.digest(baseline),
            "method": "supervised", "examples": examples, "steps": steps, "loss": loss,
            "seconds": seconds, "budget_seconds": self.compute_seconds}))
        self.score_holdout(baseline, generation)
        self.host.drop(baseline)

    # -- plumbing --------------------------------------------------------------------------

    def _spawn(self, organelle: str, seed: int) -> None:
        self.host.spawn(organelle, seed)
        self._execute(c.SpawnOrganelle(run_id=self.run_id, colony_id=self.run_id,
                                       organelle_id=organelle,
                                       adapter_digest=self.host.digest(organelle)))
        self.living.append(organelle)
        self.organelles[organelle] = Arm()
        self.founded += 1

    def _execute(self, *commands: c.Command) -> None:
        if commands:
            self.container.service.execute_batch(list(commands))

    def _organelle(self, organelle: str) -> Organelle:
        return self.container.ledger.repository.get(Organelle.id_for(organelle))

    def _colony(self) -> Colony:
        return self.container.ledger.repository.get(Colony.id_for(self.run_id))
