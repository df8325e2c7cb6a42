"""What the ecology's compute costs on this machine: sampling answers on the frozen Gemma host
in one batch against one prompt at a time (the baseline, measured in the same run), a training
step on checked answers, and one generation of the smoke config's size.

    python -m bench.ecology                 # 16 prompts, 2 repeats
    python -m bench.ecology --prompts 32
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import time

from rich.console import Console
from rich.table import Table

from adapters.lora_host import LoraSettings, OrganelleHost
from ecology.families import FAMILIES, held_out
from ecology.prompts import demonstrations, prompt
from ecology.work import AssignedTask, Assignment, perform

MAX_NEW_TOKENS = 12


def problems(count: int) -> list[str]:
    family = FAMILIES["sorting"]
    holdout = held_out(family, 0, 30, [1])
    demos = demonstrations(family, 2, {p.question for p in holdout})
    rng = random.Random(1)
    return [prompt(family.generate(rng, 1).question, demos) for _ in range(count)]


def assignment(seed: int) -> Assignment:
    """The smoke config's share of one organelle: 4 tasks, 2 answers each, one step."""
    family, rng = FAMILIES["sorting"], random.Random(seed)
    demos = demonstrations(family, 2, {p.question for p in held_out(family, 0, 30, [1])})
    tasks = []
    for _ in range(4):
        problem = family.generate(rng, 1)
        tasks.append(AssignedTask(family="sorting", difficulty=1, question=problem.question,
                                  answer=problem.answer, prompt=prompt(problem.question, demos),
                                  cell_success=0.5))
    return Assignment(run_id="bench", organelle_id="bench", generation=1,
                      adapter_digest="", tasks=tasks, samples_per_prompt=2,
                      max_new_tokens=MAX_NEW_TOKENS, temperature=0.8, steps=1, seed=seed,
                      rank=8, alpha=16, learning_rate=1e-3)


def timed(action) -> tuple[float, object]:
    started = time.perf_counter()
    result = action()
    return time.perf_counter() - started, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--prompts", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    console = Console(width=100)
    host = OrganelleHost(LoraSettings(rank=8))
    host.gemma.load()
    host.spawn("bench", seed=0)
    prompts = problems(args.prompts)
    host.sample("bench", prompts[:2], max_new_tokens=2, temperature=0.8, seed=0)  # warm up

    one, batched, training = [], [], []
    for repeat in range(args.repeats):
        seconds, samples = timed(lambda r=repeat: [
            host.sample("bench", [p], max_new_tokens=MAX_NEW_TOKENS, temperature=0.8,
                        seed=r * 1000 + i)[0] for i, p in enumerate(prompts)])
        one.append(sum(s.tokens for s in samples) / seconds)
        seconds, samples = timed(lambda r=repeat: host.sample(
            "bench", prompts, max_new_tokens=MAX_NEW_TOKENS, temperature=0.8, seed=r))
        batched.append(sum(s.tokens for s in samples) / seconds)
        examples = [(p, s.text or "0") for p, s in zip(prompts[:8], samples[:8], strict=True)]
        seconds, _ = timed(lambda ex=examples: host.train("bench", ex))
        training.append(seconds)

    per_episode = 1 / statistics.median(batched) * MAX_NEW_TOKENS
    table = Table(title=f"Ecology compute on {os.cpu_count()} cores ({args.prompts} prompts, "
                        f"up to {MAX_NEW_TOKENS} new tokens, median of {args.repeats})")
    for column in ("measure", "value", "ratio"):
        table.add_column(column, justify="left" if column == "measure" else "right")
    base = statistics.median(one)
    table.add_row("sampling, one prompt at a time (baseline)", f"{base:.1f} tokens/s", "1.00x")
    table.add_row(f"sampling, {args.prompts} prompts in one batch",
                  f"{statistics.median(batched):.1f} tokens/s",
                  f"{statistics.median(batched) / base:.2f}x")
    table.add_row("training step, 8 answers", f"{statistics.median(training):.2f} s", "")
    table.add_row("an episode (one sampled answer, batched)", f"{per_episode:.2f} s", "")
    work = [timed(lambda r=repeat: perform(host, assignment(r)))[0]
            for repeat in range(args.repeats)]
    table.add_row("an organelle's generation (4 tasks x 2 answers, checked, 1 step)",
                  f"{statistics.median(work):.1f} s", "")
    console.print(table)


if __name__ == "__main__":
    main()
