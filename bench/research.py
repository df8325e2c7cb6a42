"""Where a research run's wall time goes: the model, the ledger, the embeddings, the vector
store, and the rest (queues, PDFs, the agents' own code). Two runs of the swarm over the
pilot corpus in the same session, on fresh embedded servers:

- baseline: a scripted OpenAI-compatible server on loopback answers instantly, so the run's
  time is the system's own (ledger, relay, queues, embeddings, Qdrant);
- gemma: the local Gemma 3 270M host on the CPU, as `karma research run` uses it.

    python -m bench.research              # both runs, six papers
    python -m bench.research --papers 2   # fewer papers
    python -m bench.research --baseline-only

It ends with the Reviewer's quality on its labelled set (``swarm.review_set``): how well its
scores separate good artifacts from deliberately corrupted ones (ROC AUC), scored with the
Gemma host's likelihoods (the rubric only with --baseline-only).
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


def reviewer_quality(model: LanguageModel | None) -> dict[str, Any]:
    """The Reviewer on its labelled set: ROC AUC of good against corrupted artifacts, overall
    and per corruption kind, for its quality as scored with ``model``'s likelihoods (the
    rubric only when it has none), for the rubric alone and for the likelihood alone."""
    from adapters.likelihoods import likelihoods_of
    from swarm.review_set import auc_by_kind, labelled_set, score_set

    items = labelled_set()
    likelihoods = likelihoods_of(model) if model is not None else None
    load = getattr(model, "load", None)
    if load is not None:
        load()  # not the scoring's time
    started = time.perf_counter()
    scored = score_set(items, likelihoods)
    seconds = time.perf_counter() - started
    auc = {"quality": auc_by_kind(scored, lambda s: s.quality),
           "rubric only": auc_by_kind(scored, lambda s: s.rubric)}
    if any(s.pmi is not None for s in scored):
        # Over the model-written prose only: figures found by pattern, and artifacts with
        # nothing written, have no likelihood.
        auc["likelihood only"] = auc_by_kind(scored, lambda s: s.pmi)
    kinds: dict[str, int] = defaultdict(int)
    with_likelihood: dict[str, int] = defaultdict(int)
    for s in scored:
        kinds[s.item.kind] += 1
        with_likelihood[s.item.kind] += s.pmi is not None
    return {"model": getattr(likelihoods, "model", None), "items": len(items),
            "kinds": dict(kinds), "with_likelihood": dict(with_likelihood),
            "seconds": seconds, "auc": auc}


def print_reviewer_quality(console: Console, result: dict[str, Any]) -> None:
    table = Table(title=f"Reviewer AUC on its labelled set ({result['items']} artifacts; "
                        f"likelihoods: {result['model'] or 'none, rubric only'}; scored in "
                        f"{result['seconds']:.0f} s)")
    table.add_column("corruption", justify="left")
    table.add_column("items", justify="right")
    for column in result["auc"]:
        table.add_column(f"AUC {column}", justify="right")
    def count(kinds: dict[str, int], kind: str) -> str:
        bad = (sum(n for k, n in kinds.items() if k != "good") if kind == "all"
               else kinds.get(kind, 0))
        return f"{bad} vs {kinds.get('good', 0)} good"

    for kind in result["auc"]["quality"]:
        cells = [f"{auc[kind]:.3f}" if kind in auc else "" for auc in result["auc"].values()]
        if "likelihood only" in result["auc"] and kind in result["auc"]["likelihood only"]:
            cells[-1] += f" ({count(result['with_likelihood'], kind)})"
        table.add_row(kind, count(result["kinds"], kind), *cells)
    console.print(table)


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
    if args.baseline_only:
        print_reviewer_quality(console, reviewer_quality(None))
    else:
        from adapters.gemma_host import GemmaHost

        print_reviewer_quality(console, reviewer_quality(GemmaHost()))


if __name__ == "__main__":
    main()
