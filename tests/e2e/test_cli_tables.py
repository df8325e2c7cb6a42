"""The CLI's tables as a user sees them in an 80-column terminal, over a recorded run with the
swarm's ids (``rs-7dddeddb5a1c.fetch.lora``, fetcher-1..3) on the suite's real PostgreSQL:
`karma` runs as a process of its own against the test's database."""

import json
import re
import subprocess
import sys
from contextlib import contextmanager
from datetime import timedelta
from decimal import Decimal
from itertools import pairwise

import pytest

from domain.tasks import TextPart
from handlers import commands as c
from readside.queries import EventFilter, Queries
from readside.time_travel import TimeMachine
from tests.builders import StepClock, register
from tests.support.installed import container_env

KARMA = [sys.executable, "-m", "entrypoints.cli"]
RUN = "rs-7dddeddb5a1c"
PAPERS = ("lora", "qlora", "prefix-tuning")
LOCAL_IDS = [f"{step}.{paper}" for paper in PAPERS for step in ("fetch", "summarise")]
AGENTS = ("fetcher-1", "fetcher-2", "fetcher-3", "reader-1", "synthesiser-1", "reviewer-1")


class TwoWriters:
    """Two processes' clocks, the second 5 ms behind the first: a writer reads its clock
    before it saves, so the ledger's order and the recorded times can disagree."""

    def __init__(self) -> None:
        self.first = StepClock()
        self.lagging = False

    def __call__(self):
        moment = self.first()
        return moment - timedelta(milliseconds=5) if self.lagging else moment

    @contextmanager
    def behind(self):
        self.lagging = True
        try:
            yield
        finally:
            self.lagging = False


def work(service, local: str, task_type: str, agent: str, quality: str) -> None:
    task_id = service.execute(c.IssueTask(run_id=RUN, task_id=f"{RUN}.{local}",
                                          task_type=task_type, tags=["peft"])).ids["task_id"]
    service.execute(c.AssignTask(task_id=task_id, agent_id=agent))
    service.execute_batch([c.StartTask(task_id=task_id, agent_id=agent),
                           c.RecordArtifact(task_id=task_id, parts=[TextPart(text=local)]),
                           c.CompleteTask(task_id=task_id, duration_ms=2000, tokens=900,
                                          cpu_ms=700)])
    service.execute(c.ScoreReview(task_id=task_id, reviewer_id="reviewer-1",
                                  quality=Decimal(quality), rationale="r"))


@pytest.fixture
def recorded(container):
    service = container.service
    service.clock = clock = TwoWriters()
    register(service, *AGENTS)
    service.execute(c.MintKarma(agent_id="synthesiser-1", amount=Decimal(10), reason="grant"))
    service.execute(c.StartRun(workflow="research", run_id=RUN))
    for number, paper in enumerate(PAPERS, start=1):
        if paper == "qlora":
            with clock.behind():
                work(service, f"fetch.{paper}", "Fetch_Paper", f"fetcher-{number}", "1.0")
        else:
            work(service, f"fetch.{paper}", "Fetch_Paper", f"fetcher-{number}", "1.0")
        work(service, f"summarise.{paper}", "Summarise_Paper", "reader-1", "1.3")
    work(service, "synthesise", "Synthesise_Report", "synthesiser-1", "0.9")
    service.execute(c.FinishRun(run_id=RUN, outcome="succeeded"))
    container.projections.catch_up()
    return container


def karma(container, *args: str) -> str:
    env = container_env(container, COLUMNS="80")
    done = subprocess.run([*KARMA, *args], env=env, capture_output=True, text=True, timeout=120,
                          check=False)
    assert done.returncode == 0, done.stderr + done.stdout
    return done.stdout


def assert_readable(output: str, *ids: str) -> None:
    lines = output.splitlines()
    assert not [line for line in lines if len(line) > 80], output
    assert "…" not in output, output
    for shown in ids:
        assert re.search(rf"(?<![\w.-]){re.escape(shown)}(?![\w-]|\.\w)", output), (shown, output)


def positions(container, event_type: str, originator_id: str) -> list[int]:
    return [event["position"] for event in Queries(container.datastore).events(
        EventFilter(run_id=RUN, event_type=event_type, limit=1000))
        if event["originator_id"] == originator_id]


def test_every_table_tells_agents_and_tasks_apart_at_80_columns(recorded):
    head = recorded.projections.head()
    assert_readable(karma(recorded, "leaderboard"), *AGENTS)
    assert_readable(karma(recorded, "leaderboard", "--tag", "peft"), "fetcher-1", "fetcher-2",
                    "fetcher-3", "synthesiser-1")
    board = karma(recorded, "at", RUN, "--position", str(head))
    assert_readable(board, *AGENTS[:-1], *LOCAL_IDS, "synthesise", RUN)  # reviewers earn none
    assert f"{RUN}." not in board
    assert_readable(karma(recorded, "events", "list", "--run", RUN, "--limit", "1000"),
                    *(f"task/{local}" for local in LOCAL_IDS), f"run/{RUN}")
    assert_readable(karma(recorded, "history", "synthesiser-1"), "synthesise", "grant", RUN)
    assert_readable(karma(recorded, "stakes"), "synthesise", "synthesiser-1", RUN)
    assert_readable(karma(recorded, "runs", "list"), RUN)


def test_diff_prints_one_row_per_changed_field_and_json_on_request(recorded):
    start = positions(recorded, "TaskIssued", f"task/{RUN}.fetch.qlora")[0]
    end = positions(recorded, "TaskIssued", f"task/{RUN}.summarise.qlora")[0]
    shown = karma(recorded, "diff", RUN, "--from", str(start), "--to", str(end))
    assert_readable(shown, "fetch.qlora", "summarise.qlora", "fetcher-2", RUN)
    rows = [line.split() for line in shown.splitlines()]
    assert ["tasks", "fetch.qlora", "state", "submitted", "completed"] in rows
    assert ["assignee", "—", "fetcher-2"] in rows and ["reviews", "0", "1"] in rows
    assert ["tasks", "summarise.qlora", "state", "—", "submitted"] in rows
    assert ["task_type", "—", "Summarise_Paper"] in rows
    # fetch.qlora's type was the same at both points, and so were the other tasks.
    assert not [row for row in rows if "Fetch_Paper" in row or "fetch.lora" in row]
    assert any(row[:3] == ["balances", "fetcher-2", "balance"] for row in rows)
    machine = TimeMachine(Queries(recorded.datastore), recorded.ledger)
    expected = json.loads(json.dumps(machine.diff(RUN, start, end), default=str))
    assert json.loads(karma(recorded, "diff", RUN, "--from", str(start), "--to", str(end),
                            "--json")) == expected


def test_step_shows_each_events_changed_fields(recorded):
    started = positions(recorded, "TaskStarted", f"task/{RUN}.fetch.lora")[0]
    walked = karma(recorded, "step", RUN)
    assert_readable(walked, "fetch.lora", "synthesiser-1", RUN)
    after = walked[walked.index(f"@{started} TaskStarted task/fetch.lora"):]
    change = next(line for line in after.splitlines() if "submitted" in line)
    assert change.split() == ["tasks", "fetch.lora", "state", "submitted", "working"]


def test_a_timeline_keeps_ledger_order_and_shows_each_writers_recorded_time(recorded):
    shown = karma(recorded, "runs", "show", RUN)
    assert_readable(shown, *(f"task/{local}" for local in LOCAL_IDS))
    rows = [(int(pos), float(at)) for pos, at in
            re.findall(r"^\s*(\d+)\s+(\d+\.\d{3})\s", shown, re.MULTILINE)]
    assert [pos for pos, _ in rows] == sorted(pos for pos, _ in rows)
    assert len(rows) == len(list(Queries(recorded.datastore).run_events(RUN)))
    # fetch.qlora was recorded by the clock running behind: its time steps back, in place.
    stepped_back = [(pos, at) for (_, before), (pos, at) in pairwise(rows) if at < before]
    issued = positions(recorded, "TaskIssued", f"task/{RUN}.fetch.qlora")[0]
    assert stepped_back and stepped_back[0][0] == issued
    assert "recorded at" in shown
