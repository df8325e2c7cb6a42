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
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal

from adapters.lora_host import OrganelleHost
from app.bootstrap import Container
from domain.assimilation import Accuracy, accuracy, uplift
from domain.ecology import ENERGY_AMOUNTS, Colony, Organelle, gini
from domain.routing import Arm, thompson, ucb
from ecology.config import EcologyConfig
from ecology.families import FAMILIES, Problem, check, held_out, training_stream
from ecology.prompts import demonstrations, prompt
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
    living: list[str] = field(default_factory=list, init=False)
    organelles: dict[str, Arm] = field(default_factory=dict, init=False)
    """What each organelle's answers scored: Thompson's or UCB1's belief about it."""

    def __post_init__(self) -> None:
        self.rng = random.Random(f"ecology/{self.config.seed}")
        self.policy = self.config.energy.policy()
        difficulties = self.config.difficulties
        per_difficulty = -(-self.config.held_out_per_family // len(difficulties))
        self.holdout = {name: held_out(FAMILIES[name], self.config.seed, per_difficulty,
                                       difficulties) for name in self.config.families}
        excluded = {p.question for problems in self.holdout.values() for p in problems}
        self.demos = {name: demonstrations(FAMILIES[name], self.config.few_shot, excluded)
                      for name in self.config.families}
        self.streams = {(name, d): training_stream(FAMILIES[name], self.rng, d, excluded)
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
                      c.FoundColony(colony_id=self.run_id, config_digest=digest,
                                    energy={k: getattr(self.policy, k) for k in ENERGY_AMOUNTS},
                                    strikes_to_cull=self.policy.strikes_to_cull))
        for index in range(self.config.population):
            self._spawn(f"{self.run_id}-o{index + 1}", seed=self.config.seed * 1000 + index)
        self.progress("scoring the frozen host on the held-out sets")
        self.score_holdout(None, generation=0)

    def generation(self, generation: int) -> None:
        self.progress(f"generation {generation}: {len(self.living)} organelles")
        assigned: dict[str, list[tuple[Cell, Problem]]] = {o: [] for o in self.living}
        for _ in range(self.config.tasks_per_generation):
            cell = ucb(self.cells, self.config.routing.cell_exploration)
            organelle = self._choose({o: self.organelles[o] for o in self.living})
            assigned[organelle].append((cell, next(self.streams[cell])))
        episodes, scores = [], []
        for organelle, tasks in assigned.items():
            if tasks:
                made, kept = self._work(organelle, tasks, generation)
                episodes += made
                scores += [command.score for command in made]
                self._learn(organelle, kept)
        self._execute(*episodes)
        self._execute(*(c.ChargeTicket(run_id=self.run_id, colony_id=self.run_id,
                                       organelle_id=o, generation=generation)
                        for o in self.living))
        self._cull()
        purses = [self._organelle(o).purse.balance for o in self.living]
        self._execute(c.CloseGeneration(
            run_id=self.run_id, colony_id=self.run_id, generation=generation,
            living=len(self.living), culled=self.config.population - len(self.living),
            episodes=len(episodes), mean_score=sum(scores) / len(scores) if scores else 0.0,
            energy_total=sum(purses, Decimal(0)), energy_gini=gini(purses)))

    def _choose(self, arms: dict[str, Arm]) -> str:
        if self.config.routing.organelle_choice == "ucb":
            return ucb(arms, self.config.routing.organelle_exploration)
        return thompson(arms, self.rng)

    def _work(self, organelle: str, tasks: list[tuple[Cell, Problem]],
              generation: int) -> tuple[list[c.ScoreEpisode], list[tuple[str, str]]]:
        """Sample answers to the organelle's tasks, check them, price them; return the
        episodes to record and the (prompt, answer) pairs that passed."""
        learning = self.config.learning
        prompts = [prompt(p.question, self.demos[cell[0]]) for cell, p in tasks
                   for _ in range(learning.samples_per_prompt)]
        started = time.perf_counter()
        samples = self.host.sample(organelle, prompts, max_new_tokens=learning.max_new_tokens,
                                   temperature=learning.temperature,
                                   seed=self.rng.randrange(2**31))
        seconds = (time.perf_counter() - started) / len(samples)
        episodes, kept = [], []
        for index, sample in enumerate(samples):
            cell, problem = tasks[index // learning.samples_per_prompt]
            verdict = check(FAMILIES[cell[0]], problem, sample.text)
            success = self.cells[cell].mean if self.cells[cell].pulls else 0.0
            self.cells[cell] = self.cells[cell].pulled(verdict.score)
            self.organelles[organelle] = self.organelles[organelle].pulled(verdict.score)
            episodes.append(c.ScoreEpisode(
                run_id=self.run_id, organelle_id=organelle, generation=generation,
                family=cell[0], difficulty=cell[1], question=problem.question,
                answer=sample.text[:4096], score=verdict.score, checker=verdict.checker,
                tokens=sample.tokens, latency_ms=int(seconds * 1000),
                income=self.policy.income(verdict.score, success),
                cost=self.policy.compute_cost(sample.tokens, seconds)))
            if verdict.score == 1.0:
                kept.append((prompts[index], sample.text))
        return episodes, kept

    def _learn(self, organelle: str, kept: list[tuple[str, str]]) -> None:
        unique = list(dict.fromkeys(kept))
        for _ in range(self.config.learning.steps_per_generation if unique else 0):
            self.host.train(organelle, unique)

    def _cull(self) -> None:
        for organelle in list(self.living):
            if self._organelle(organelle).culled:
                self.living.remove(organelle)
                self.host.drop(organelle)
                self.progress(f"{organelle} was culled")

    # -- assimilation ----------------------------------------------------------------------

    def assimilate(self, generation: int) -> None:
        """Test the best organelle against the frozen host on fresh problems; if the gate
        passes and a partner lives, merge them (sum of deltas), score the merged adapter on
        the held-out sets against the candidate, and keep the child only if it does better."""
        gate = self.config.assimilation.gate()
        candidate = max(self.living, key=lambda o: (self.organelles[o].mean, o))
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
                   "alpha": gate.alpha}
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

    # -- plumbing --------------------------------------------------------------------------

    def _spawn(self, organelle: str, seed: int) -> None:
        self.host.spawn(organelle, seed)
        self._execute(c.SpawnOrganelle(run_id=self.run_id, colony_id=self.run_id,
                                       organelle_id=organelle,
                                       adapter_digest=self.host.digest(organelle)))
        self.living.append(organelle)
        self.organelles[organelle] = Arm()

    def _execute(self, *commands: c.Command) -> None:
        if commands:
            self.container.service.execute_batch(list(commands))

    def _organelle(self, organelle: str) -> Organelle:
        return self.container.ledger.repository.get(Organelle.id_for(organelle))

    def _colony(self) -> Colony:
        return self.container.ledger.repository.get(Colony.id_for(self.run_id))
