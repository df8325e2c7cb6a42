"""The swarm on the real local host: Gemma 3 270M on the CPU, from the package's GGUF file
(converted once into the user cache, as `karma research run` does)."""

import asyncio

from adapters.gemma_host import GemmaHost
from swarm.conductor import paper_slugs
from swarm.corpus import PILOT, write_pdf
from swarm.replay import run_events
from swarm.runtime import ResearchRun, build_toolkit, report_of


def test_the_swarm_finishes_a_cited_report_on_the_local_gemma_host(container, tmp_path):
    folder = tmp_path / "corpus"
    folder.mkdir()
    paths = [write_pdf(paper, folder) for paper in PILOT[:2]]
    papers = {slug: str(path) for slug, path in paper_slugs(paths).items()}
    host, said = GemmaHost(), []
    host.prepare(said.append)  # as `karma research run` does, before its progress bars
    assert said[-2] == "loading Gemma 3 270M" and said[-1].startswith("loaded in ")
    assert len(said) == 2 or said[0].startswith("converting Gemma 3 270M once into ")
    kit = build_toolkit(container.settings, host)
    try:
        conductor = asyncio.run(
            ResearchRun(container, kit, "PEFT", "rs-gemma").run(papers, timeout_s=900))
    finally:
        kit.passages.close()

    report = report_of(conductor)
    assert report is not None and "## Sources" in report and "[1]" in report
    calls = [e for _, e in run_events(container, "rs-gemma") if type(e).__name__ == "ModelCalled"]
    assert calls and {call.adapter for call in calls} == {"gemma-local"}
    assert all(call.completion_tokens > 0 and call.latency_ms > 0 for call in calls)
    summaries = [c.response for c in calls if c.purpose == "summary"]
    assert len(summaries) == 2 and all(s.strip() for s in summaries)
    assert all(f.reviewed for f in conductor.tasks.values()
               if f.state == "completed" and f.task_type != "Review_Artifact")
