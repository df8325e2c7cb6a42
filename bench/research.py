"""A research run measured: where its wall time goes (the model, the ledger, the embeddings,
the vector store, the rest), how far its output can be trusted, and what batching the
host's prompts saves. On each bundled corpus (pilot: PEFT; vision: efficient image
classification), on fresh embedded servers:

- baseline: a scripted OpenAI-compatible server on loopback answers instantly, so the run's
  time is the system's own (ledger, relay, queues, embeddings, Qdrant);
- gemma: the local Gemma 3 270M host on the CPU, as `karma research run` uses it, with the
  prompts of agents working at the same time batched; on the pilot corpus also one prompt at
  a time (``max_batch=1``), the same run before batching.

Quality (``bench.research_quality``): the share of numbers in the report's prose found in
the passages they cite, the Metrician's recall of the corpus's gold figures, the methods the
comparison covers, and the triples a KARMA enrichment of the first papers' abstracts accepts
(gemma runs). It ends with the Reviewer's ROC AUC on its labelled set (``swarm.review_set``):
good artifacts against deliberately corrupted ones, scored with the host's likelihoods.

    python -m bench.research                   # both corpora: about 15 minutes on 2 cores
    python -m bench.research --corpus pilot    # one corpus
    python -m bench.research --baseline-only   # no Gemma: the system's own time and quality
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from adapters import embedded_nats, embedded_postgres
from adapters.gemma_host import GemmaHost
from adapters.llm import LanguageModel, OpenAICompatibleModel
from app.bootstrap import Container
from app.settings import Settings
from bench import research_quality as quality
from bench.stopwatch import Stopwatch
from swarm import corpora
from swarm.conductor import paper_slugs
from swarm.runtime import ResearchRun, build_toolkit, report_of
from tests.support.openai_server import research_script, serving

TOPICS = {"pilot": "parameter-efficient fine-tuning (PEFT)",
          "vision": "efficient image classification"}


def measure(name: str, model: LanguageModel, corpus_name: str,
            enrich: bool = False) -> dict[str, Any]:
    corpus = corpora.corpus(corpus_name)
    with tempfile.TemporaryDirectory() as folder:
        home = Path(folder)
        paths = corpus.write(home / "corpus")
        papers = paper_slugs(paths)
        container = Container(Settings(home=home / "karma"))
        kit = build_toolkit(container.settings, model)
        watch = Stopwatch()
        try:
            warm = time.perf_counter()
            kit.warm_up()  # before the stopwatches: loading is its own column
            warm_s = time.perf_counter() - warm
            if isinstance(model, GemmaHost):
                # The host's own busy time, batch by batch (its calls overlap while they
                # wait to be batched, so timing each call would count the waiting).
                watch.wrap(model, "_answer", "model")
            else:
                watch.wrap(kit.model, "complete", "model", exclusive=True)
            watch.wrap(kit.embedder, "embed", "embeddings", exclusive=True)
            watch.wrap(kit.passages, "add", "vector store", exclusive=True)
            watch.wrap(kit.passages, "search", "vector store", exclusive=True)
            watch.wrap(container.service, "execute_batch", "ledger writes")
            started = time.perf_counter()
            conductor = asyncio.run(ResearchRun(
                container, kit, TOPICS[corpus_name], f"rs-{name}").run(
                {slug: str(p) for slug, p in papers.items()}, timeout_s=3600))
            wall = time.perf_counter() - started
            report = report_of(conductor)
            trust = quality.measure(conductor, report or "", papers, corpus)
            enriched = (quality.enrich_abstracts(container.service, model, corpus)
                        if enrich else None)
        finally:
            kit.passages.close()
            container.close()
            embedded_postgres.stop(home / "karma" / "postgres")
            embedded_nats.stop(home / "karma" / "nats")
        return {"name": name, "corpus": corpus_name, "wall": wall, "warm": warm_s,
                "watch": watch, "tasks": len(conductor.tasks), "report": report is not None,
                "quality": trust, "enriched": enriched}


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
    parser.add_argument("--corpus", choices=sorted(TOPICS), action="append",
                        help="a bundled corpus (repeatable; default: every one)")
    parser.add_argument("--baseline-only", action="store_true")
    args = parser.parse_args()
    console = Console(width=140)
    results = []
    for corpus_name in args.corpus or sorted(TOPICS):
        with serving(research_script) as server:
            results.append(measure(f"{corpus_name}-baseline",
                                   OpenAICompatibleModel(server.url, "scripted"), corpus_name))
        if args.baseline_only:
            continue
        results.append(measure(f"{corpus_name}-gemma", GemmaHost(), corpus_name, enrich=True))
        if corpus_name == "pilot":
            results.append(measure(f"{corpus_name}-gemma-serial",
                                   GemmaHost(max_batch=1), corpus_name))
    print_parts(console, results)
    print_quality(console, results)
    print_batching(console, results)
    print_reviewer_quality(console, reviewer_quality(None if args.baseline_only
                                                     else GemmaHost()))


def print_parts(console: Console, results: list[dict[str, Any]]) -> None:
    table = Table(title=f"Where a research run's time goes, on {os.cpu_count()} cores (seconds "
                        f"in each part, summed over the agents' threads; % of the wall time)")
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


def print_quality(console: Console, results: list[dict[str, Any]]) -> None:
    table = Table(title="What the runs produced, checked from outside the swarm")
    for column in ("run", "numbers in the prose found in the cited passages (aim 100%)",
                   "gold figures recalled", "methods with figures", "triples accepted",
                   "enrichment s"):
        table.add_column(column, justify="left" if column == "run" else "right")
    for r in results:
        q: quality.Quality = r["quality"]
        enriched: quality.Enriched | None = r["enriched"]
        table.add_row(
            r["name"], f"{q.numbers_found}/{q.numbers_stated} ({q.number_share:.0%})",
            f"{q.gold_recalled}/{q.gold_total} ({q.recall:.0%})",
            f"{q.methods_with_figures}/{q.methods}",
            f"{enriched.accepted} of {enriched.proposed} proposed" if enriched else "",
            f"{enriched.seconds:.0f}" if enriched else "")
    console.print(table)
    for r in results:
        for sentence in r["quality"].unsupported:
            console.print(f"[{r['name']}] a number not in its cited source: {sentence[:160]}")


def print_batching(console: Console, results: list[dict[str, Any]]) -> None:
    by_name = {r["name"]: r for r in results}
    batched, single = by_name.get("pilot-gemma"), by_name.get("pilot-gemma-serial")
    if batched and single:
        console.print(f"batching the host's prompts: pilot run {single['wall']:.1f} s one at a "
                      f"time -> {batched['wall']:.1f} s batched "
                      f"({single['wall'] / batched['wall']:.2f}x), on {os.cpu_count()} cores")




if __name__ == "__main__":
    main()
