"""The research swarm end to end: real PDFs written by the test, real MiniLM embeddings, real
Qdrant local mode, a real OpenAI-compatible server on loopback with scripted answers, and
the ledger, relay, work queues and economy of the rest of the suite."""

import asyncio
import threading
from decimal import Decimal
from pathlib import Path

import pytest

from adapters.llm import OpenAICompatibleModel
from adapters.llm_replay import RecordedModel
from app.counterfactual import replay as counterfactual
from app.verify import verify
from readside.queries import Queries
from swarm import prompts
from swarm.conductor import paper_slugs
from swarm.corpus import PILOT, write_pdf
from swarm.replay import first_divergence, load_recording, run_events
from swarm.runtime import ResearchRun, build_toolkit, report_of
from tests.support.installed import karma, user_env
from tests.support.openai_server import research_script, serving

TOPIC = "parameter-efficient fine-tuning"


@pytest.fixture
def corpus(tmp_path: Path) -> dict[str, str]:
    folder = tmp_path / "corpus"
    folder.mkdir()
    for paper in PILOT[:3]:
        write_pdf(paper, folder)
    (folder / "broken.pdf").write_bytes(b"%PDF-1.4\n1 0 obj << /Type /Catalog >> garbage")
    return {slug: str(path) for slug, path in paper_slugs(sorted(folder.glob("*.pdf"))).items()}


def run_swarm(container, model, corpus, run_id: str, replay_of: str | None = None):
    kit = build_toolkit(container.settings, model)
    try:
        research = ResearchRun(container, kit, TOPIC, run_id, replay_of=replay_of)
        return asyncio.run(research.run(corpus, timeout_s=300))
    finally:
        kit.passages.close()


def test_the_swarm_writes_a_cited_report_and_pays_for_reviewed_work(container, corpus):
    with serving(research_script) as server:
        model = OpenAICompatibleModel(server.url, "scripted", timeout_s=10)
        conductor = run_swarm(container, model, corpus, "rs-test")

    report = report_of(conductor)
    assert report is not None
    for heading in ("## Synthesis", "## Metrics", "## Debate", "## Sources"):
        assert heading in report
    assert "[1]" in report and "lora, page 1" in report
    assert "| LoRA" in report or "| lora" in report
    assert "Training cost falls" in report and "different benchmarks" in report

    events = [event for _, event in run_events(container, "rs-test")]
    kinds = [type(event).__name__ for event in events]
    # Every prompt the server answered is in the ledger, answer and all.
    calls = [event for event in events if type(event).__name__ == "ModelCalled"]
    assert len(calls) == len(server.prompts)
    assert sorted(call.prompt for call in calls) == sorted(server.prompts)
    assert all(call.completion_tokens > 0 for call in calls)
    # The corrupt PDF: fetched fine, unreadable to the Reader, who downvotes the Fetcher.
    broken = conductor.tasks["rs-test.summarise.broken"]
    assert broken.state == "failed" and "not a readable PDF" in broken.reason
    votes = [e for e in events if type(e).__name__ == "PeerVoteCast"
             and e.originator_id == "task/rs-test.summarise.broken"]
    assert len(votes) == 1 and votes[0].value == Decimal("-0.1")
    assert votes[0].target_id == conductor.tasks["rs-test.fetch.broken"].assignee
    # Four summaries for three equal newcomers: the scheduler spreads them by load. How far
    # depends on when the fetches finish: a reader already done and paid may outscore an idle
    # one (merit / (1 + load)), so two or three readers share them, never one.
    readers = {f.assignee for f in conductor.tasks.values() if f.task_type == "Summarise_Paper"}
    assert len(readers) >= 2
    # ...and the run finishes with what it has.
    assert kinds[-1] == "RunFinished" and events[-1].outcome.value == "succeeded"
    # Every finished piece of work was reviewed once, and the review paid its agent.
    for task_id, facts in conductor.tasks.items():
        if facts.state == "completed" and facts.task_type != "Review_Artifact":
            assert facts.reviewed, task_id
    queries = Queries(container.datastore)
    container.projections.catch_up()
    board = queries.leaderboard()
    assert {row["agent_id"] for row in board} >= {"fetcher-1", "reader-1", "synthesiser-1"}
    assert Decimal(board[0]["balance"]) > 0
    report_karma = queries.task_karma_delta("rs-test.synthesise")
    assert report_karma > 0
    assert verify(container).ok


def test_a_replay_reproduces_the_run_without_a_model_and_names_where_changed_code_diverges(
        container, corpus, monkeypatch):
    with serving(research_script) as server:
        run_swarm(container, OpenAICompatibleModel(server.url, "scripted"), corpus, "rs-orig")
    recording = load_recording(container, "rs-orig")
    assert recording.papers == corpus and recording.topic == TOPIC

    queries = Queries(container.datastore)
    container.projections.catch_up()
    balances_before = queries.leaderboard(limit=100)

    same = run_swarm(container, RecordedModel(recording.calls), recording.papers, "rs-same",
                     replay_of="rs-orig")
    assert first_divergence(recording.facts, same) is None
    # The replay is marked as one, and its reviewed work paid no real karma...
    container.projections.catch_up()
    assert queries.run("rs-same")["replay_of"] == "rs-orig"
    assert queries.run("rs-orig")["replay_of"] is None
    assert queries.leaderboard(limit=100) == balances_before
    assert queries.run_karma_entries("rs-same") == []
    assert any(f.reviewed for f in same.tasks.values())
    # ...while what it would have earned is still there to show, computed from its facts.
    earned = counterfactual(queries, "rs-same", container.service.policy)
    assert {s.agent_id: s.earned for s in earned.recorded}.get("synthesiser-1") == 0
    assert {s.agent_id: s.earned for s in earned.counterfactual}["synthesiser-1"] > 0
    assert verify(container).ok

    monkeypatch.setattr(prompts, "OVERVIEW", prompts.OVERVIEW.replace("short overview",
                                                                      "brief overview"))
    changed = run_swarm(container, RecordedModel(recording.calls), recording.papers, "rs-diff")
    divergence = first_divergence(recording.facts, changed)
    assert divergence is not None and divergence.task == "synthesise"
    assert "replay diverged at overview" in divergence.replayed


def test_agents_hosted_by_another_worker_process_finish_a_run_the_conductor_only_directs(
        container, corpus):
    """`karma research run --local-roles none` with `karma research worker` elsewhere: here
    the workers run on an event loop and NATS connections of their own."""
    from swarm.runtime import serve_crew

    with serving(research_script) as server:
        kit = build_toolkit(container.settings, OpenAICompatibleModel(server.url, "scripted"))
        ready, stopping = threading.Event(), {}

        async def host() -> None:
            stopping["event"], stopping["loop"] = asyncio.Event(), asyncio.get_running_loop()
            ready.set()
            await serve_crew(container, kit, ["fetcher", "reader", "metrician", "analyst",
                                              "debater", "synthesiser", "reviewer"],
                             stopping["event"])

        worker = threading.Thread(target=asyncio.run, args=(host(),))
        worker.start()
        ready.wait(10)
        try:
            conductor = asyncio.run(ResearchRun(container, kit, TOPIC, "rs-apart", ()).run(
                corpus, timeout_s=300))
        finally:
            stopping["loop"].call_soon_threadsafe(stopping["event"].set)
            worker.join(30)
            kit.passages.close()
    assert report_of(conductor) is not None
    assert {f.assignee for f in conductor.tasks.values()} >= {"fetcher-1", "reviewer-1"}


def test_the_readme_commands_write_the_report_and_print_the_leaderboard(tmp_path):
    """`karma research corpus pilot && karma research run pilot`, as a user types them (the
    installed script, outside the checkout), on the embedded servers the CLI starts itself;
    the model is the loopback scripted server."""
    with serving(research_script) as server:
        env = user_env(KARMA_HOME=str(tmp_path / ".karma"), KARMA_LLM="openai",
                       KARMA_OPENAI_BASE_URL=server.url, KARMA_OPENAI_MODEL="scripted")
        try:
            karma("research", "corpus", "pilot", env=env, cwd=tmp_path)
            done = karma("research", "run", "pilot", env=env, cwd=tmp_path, timeout=600,
                         check=False)
            status = karma("status", env=env, cwd=tmp_path, check=False)
            refused = karma("research", "run", "nowhere", env=env, cwd=tmp_path, check=False)
        finally:
            karma("down", env=env, cwd=tmp_path, timeout=60, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    reports = list((tmp_path / "runs").glob("rs-*/report.md"))
    assert len(reports) == 1 and "## Sources" in reports[0].read_text()
    assert "karma leaderboard" in done.stdout and "synthesiser-1" in done.stdout
    assert "Synthesise_Report" in done.stdout  # the progress bars
    assert "Traceback" not in done.stderr, done.stderr[-2000:]
    assert refused.returncode == 2 and "holds no .pdf files" in refused.stderr
    assert status.returncode == 0 and "task_board" in status.stdout, status.stderr


def test_an_interrupted_run_resumes_and_every_task_ends_once(container, corpus):
    """The run stops mid-chain (its workers, relay and conductor go away with tasks in
    flight); `karma research resume` finishes it from what the ledger holds."""
    from app.bootstrap import Container

    quick = Container(container.settings.model_copy(update={"task_ack_wait_s": 2.0}),
                      container.endpoints)

    class Interrupted(Exception):
        pass

    def interrupt_after_two_summaries(conductor) -> None:
        done = [t for t in conductor.tasks.values()
                if t.task_type == "Summarise_Paper" and t.state != "submitted"]
        if len(done) >= 2:
            raise Interrupted

    try:
        with serving(research_script) as server:
            model = OpenAICompatibleModel(server.url, "scripted")
            kit = build_toolkit(quick.settings, model)
            with pytest.raises(Interrupted):
                asyncio.run(ResearchRun(quick, kit, TOPIC, "rs-crash").run(
                    corpus, interrupt_after_two_summaries, timeout_s=300))
            assert not any(type(e).__name__ == "RunFinished"
                           for _, e in run_events(quick, "rs-crash"))
            conductor = asyncio.run(ResearchRun(quick, kit, "", "rs-crash").run(
                None, timeout_s=300))
            kit.passages.close()
    finally:
        quick.close()

    assert conductor.topic == TOPIC and report_of(conductor) is not None
    ends: dict[str, int] = {}
    for _, event in run_events(container, "rs-crash"):
        if type(event).__name__ in ("TaskCompleted", "TaskFailed"):
            ends[event.originator_id] = ends.get(event.originator_id, 0) + 1
    issued = [e for _, e in run_events(container, "rs-crash")
              if type(e).__name__ == "TaskIssued"]
    assert len(ends) == len(issued) and set(ends.values()) == {1}
