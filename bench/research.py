"""Where a research run's wall time goes: the model, the ledger, the embeddings, the vector
store, and the rest (queues, PDFs, the agents' own code). Two runs of the swarm over the
pilot corpus in the same session, on fresh embedded servers:

- baseline: a scripted OpenAI-compatible server on loopback answers instantly, so the run's
  time is the system's own (ledger, relay, queues, embeddings, Qdrant);
- gemma: the local Gemma 3 270M host on the CPU, as `karma research run` uses it.

    python -m bench.research              # both runs, six papers
    python -m bench.research --papers 2   # fewer papers
    python -m bench.research --baseline-only
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import os
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from adapters.llm import LanguageModel, OpenAICompatibleModel
from app.bootstrap import Container
from app.settings import Settings
from swarm.conductor import paper_slugs
from swarm.corpus import PILOT, write_pdf
from swarm.runtime import ResearchRun, build_toolkit, report_of
from tests.support.openai_server import research_script, serving


class Stopwatch:
    """Busy seconds per component, summed over every thread that used it."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self.calls: dict[str, int] = defaultdict(int)
        self._lock = threading.Lock()
        self._turns: dict[str, threading.Lock] = {}

    def wrap(self, owner: Any, method: str, component: str, exclusive: bool = False) -> None:
        """Time ``owner.method``. ``exclusive`` for components that serve one caller at a
        time anyway (the models, the local vector store): the clock starts once the caller
        has its turn, so waiting in line is not counted as the component's time."""
        original: Callable[..., Any] = getattr(owner, method)
        turn = self._turns.setdefault(component, threading.Lock()) if exclusive else None

        @functools.wraps(original)
        def timed(*args: Any, **kwargs: Any) -> Any:
            with turn if turn is not None else contextlib.nullcontext():
                started = time.perf_counter()
                try:
                    return original(*args, **kwargs)
                finally:
                    with self._lock:
                        self.seconds[component] += time.perf_counter() - started
                        self.calls[component] += 1

        setattr(owner, method, timed)


def measure(name: str, model: LanguageModel, papers: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as folder:
        home = Path(folder)
        corpus = home / "corpus"
        corpus.mkdir()
        paths = [write_pdf(paper, corpus) for paper in PILOT[:papers]]
        container = Container(Settings(home=home / "karma"))
        kit = build_toolkit(container.settings, model)
        watch = Stopwatch()
        try:
            warm = time.perf_counter()
            kit.warm_up()  # before the stopwatches: loading is its own column
            warm_s = time.perf_counter() - warm
            watch.wrap(kit.model, "complete", "model", exclusive=True)
            watch.wrap(kit.embedder, "embed", "embeddings", exclusive=True)
            watch.wrap(kit.passages, "add", "vector store", exclusive=True)
            watch.wrap(kit.passages, "search", "vector store", exclusive=True)
            watch.wrap(container.service, "execute_batch", "ledger writes")
            started = time.perf_counter()
            conductor = asyncio.run(ResearchRun(container, kit, "PEFT", f"rs-bench-{name}").run(
                {slug: str(p) for slug, p in paper_slugs(paths).items()}, timeout_s=3600))
            wall = time.perf_counter() - started
        finally:
            kit.passages.close()
            container.close()
            from adapters import embedded_nats, embedded_postgres

            embedded_postgres.stop(home / "karma" / "postgres")
            embedded_nats.stop(home / "karma" / "nats")
        return {"name": name, "wall": wall, "warm": warm_s, "watch": watch,
                "tasks": len(conductor.tasks), "report": report_of(conductor) is not None}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--papers", type=int, default=len(PILOT), choices=range(1, 7))
    parser.add_argument("--baseline-only", action="store_true")
    args = parser.parse_args()
    console = Console(width=120)
    results = []
    with serving(research_script) as server:
        results.append(measure("baseline", OpenAICompatibleModel(server.url, "scripted"),
                               args.papers))
    if not args.baseline_only:
        from adapters.gemma_host import GemmaHost

        results.append(measure("gemma", GemmaHost(), args.papers))

    table = Table(title=f"Research run over {args.papers} pilot papers on {os.cpu_count()} "
                        f"cores (seconds spent in each part, summed over the agents' threads; % of the run's wall time)")
    for column in ("run", "tasks", "report", "wall s", "model", "ledger writes", "embeddings",
                   "vector store", "model load s"):
        table.add_column(column, justify="left" if column == "run" else "right")
    for r in results:
        watch: Stopwatch = r["watch"]

        def cell(component: str, wall: float = r["wall"], w: Stopwatch = watch) -> str:
            seconds = w.seconds.get(component, 0.0)
            return f"{seconds:.1f} s ({seconds / wall:.0%}, {w.calls.get(component, 0)} calls)"

        table.add_row(r["name"], str(r["tasks"]), "yes" if r["report"] else "no",
                      f"{r['wall']:.1f}", cell("model"), cell("ledger writes"),
                      cell("embeddings"), cell("vector store"), f"{r['warm']:.1f}")
    console.print(table)
    if len(results) == 2:
        base, gemma = results
        console.print(f"gemma run / baseline run wall time: {gemma['wall'] / base['wall']:.1f}×; "
                      f"model share of the gemma run: "
                      f"{gemma['watch'].seconds['model'] / gemma['wall']:.0%}")


if __name__ == "__main__":
    main()
