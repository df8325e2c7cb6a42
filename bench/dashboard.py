"""The dashboard's pages at scale: time to first paint and time until each view shows its data,
in a real headless Chromium, over a small ledger (the baseline) and a large one, in one run.

    python -m bench.dashboard                    # 10,000 and 1,000,000 events (about 20 min)
    python -m bench.dashboard --events 100000    # a smaller large ledger

Both ledgers are bench.time_travel's research-swarm histories (runs of 200 tasks by 12 agents),
served by the app with its views caught up; each page is loaded from scratch ``--loads`` times
and the median is reported. "data" is the moment the view has rendered what it read from /v1
(the page marks it), which is what a user waits for; first paint is the browser's
first-contentful-paint (the page's frame, before any data). Needs Debian's chromium and
chromium-driver.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import tempfile
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from adapters import embedded_nats
from app.bootstrap import Container, Endpoints
from app.settings import Settings
from bench.ledger import fresh_database, server
from bench.time_travel import generate
from readside.queries import EventFilter, Queries
from tests.support.headless import CHROMIUM, DRIVER, chromium
from tests.support.threaded_server import in_thread

VIEWS = ("leaderboard", "leaderboard?tag=peft", "agents/{agent}", "events",
         "events?event_type=ReviewScored", "events/{event}", "runs", "runs/{run}",
         "projections", "graphs", "ecology", "learning")
SMALL = 10_000


@dataclass(frozen=True)
class Timing:
    first_paint_ms: float
    data_ms: float


def serving(container: Container) -> AbstractContextManager[str]:
    """The app over the container on a free loopback port, reads open (loopback only)."""
    from entrypoints.http_api import create_app

    return in_thread(create_app(container, follow_projections=False, open_reads=True))


def load(driver, base: str, route: str) -> Timing:
    """Load the page from scratch at ``route`` and wait until its view shows its data."""
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get("about:blank")
    driver.get(f"{base}/ui#/{route}")
    WebDriverWait(driver, 120, poll_frequency=0.02).until(lambda d: d.execute_script(
        "return document.getElementById('view').dataset.ready === 'yes'"))
    error = driver.execute_script(
        "const e = document.querySelector('#view .error'); return e && e.textContent")
    if error:
        raise RuntimeError(f"{route}: {error}")
    ready, paint = driver.execute_script(
        "const p = performance.getEntriesByName('first-contentful-paint')[0];"
        "return [Number(document.getElementById('view').dataset.readyAt), p ? p.startTime : 0]")
    return Timing(paint, ready)


def measure(container: Container, loads: int) -> dict[str, list[Timing]]:
    queries = Queries(container.datastore)
    run = queries.runs(1)[0]["run_id"]
    events = queries.events(EventFilter(event_type="ReviewScored", limit=1))
    # as the page's own links write them: an event id holds a slash
    values = {"agent": "agent-00", "run": run, "event": quote(events[0]["event_id"], safe="")}
    timings: dict[str, list[Timing]] = {}
    with serving(container) as base:
        driver = chromium()
        try:
            load(driver, base, "leaderboard")  # the browser's own start-up, not a view's
            for view in VIEWS:
                route = view.format(**values)
                timings[view] = [load(driver, base, route) for _ in range(loads)]
        finally:
            driver.quit()
    return timings


@contextmanager
def ledger(admin_url: str, nats_url: str, events: int, home: Path,
           progress: Progress) -> Iterator[Container]:
    with fresh_database(admin_url) as database:
        container = Container(Settings(home=home, database_url=database, nats_url=nats_url,
                                       nats_namespace=f"bench{events}"),
                              Endpoints(database, nats_url, False, False))
        try:
            generate(container.service, events, random.Random(7), progress)
            container.projections.catch_up()
            yield container
        finally:
            container.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--loads", type=int, default=3)
    args = parser.parse_args()
    if not (CHROMIUM and DRIVER):
        raise SystemExit("needs Debian's chromium and chromium-driver")
    console = Console(width=120)
    results: dict[int, dict[str, list[Timing]]] = {}
    heads: dict[int, int] = {}
    with tempfile.TemporaryDirectory() as folder, server() as admin_url, \
            Progress(console=console, transient=True) as progress:
        nats = embedded_nats.start(Path(folder) / "nats")
        try:
            for size in (SMALL, args.events):
                with ledger(admin_url, nats.url, size, Path(folder) / str(size),
                            progress) as container:
                    heads[size] = container.projections.head()
                    results[size] = measure(container, args.loads)
        finally:
            embedded_nats.stop(Path(folder) / "nats")

    small, large = results[SMALL], results[args.events]
    table = Table(title=f"Dashboard views, median of {args.loads} loads from scratch, headless "
                        f"Chromium, {os.cpu_count()} cores: {heads[SMALL]:,} vs "
                        f"{heads[args.events]:,} events")
    for column in ("view", "data ms (small)", "data ms (large)", "large / small",
                   "first paint ms (large)"):
        table.add_column(column, justify="left" if column == "view" else "right")
    for view in VIEWS:
        base = statistics.median(t.data_ms for t in small[view])
        big = statistics.median(t.data_ms for t in large[view])
        paint = statistics.median(t.first_paint_ms for t in large[view])
        table.add_row(f"#/{view}", f"{base:,.0f}", f"{big:,.0f}", f"{big / base:.2f}x",
                      f"{paint:,.0f}")
    console.print(table)


if __name__ == "__main__":
    main()
