"""Enrichment on the real local host (Gemma 3 270M, CPU) and from the command line, with the
seed's own request in examples/."""

import json
from pathlib import Path

from adapters.gemma_host import GemmaHost
from handlers import commands as c
from knowledge.enrichment import Enrichment
from knowledge.requests import EnrichRequest
from tests.support.installed import container_env, karma

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "karma_enrich_request.json"


def test_the_seed_request_runs_on_the_local_gemma_host(container):
    """The seed's own request, unchanged, on the default model and the default timeouts:
    the relation its document states is accepted, judged by the host's likelihoods."""
    request = EnrichRequest.model_validate_json(EXAMPLE.read_bytes())
    enrichment = Enrichment(container.service, GemmaHost(), request, c.ADMIN)
    enrichment.run()
    response = enrichment.response()

    logs = response["agent_logs"]
    assert [log["agent"] for log in logs][0] == "planner"
    assert all(log["response"] for log in logs)
    accepted = [(a["subject"], a["predicate"], a["object"])
                for a in response["accepted_candidates"]]
    assert ("Example Entity", "related_to", "Sample Entity") in accepted
    [judged] = [a for a in response["accepted_candidates"] if a["predicate"] == "related_to"]
    assert judged["scores"]["confidence"] > 0.5  # P(Yes) against P(No)
    assert all(r["reason"] for r in response["rejected_candidates"])
    graph = container.ledger.repository.get(f"graph/{response['graph_id']}")
    assert graph.enrichments[response["enrichment_id"]]["state"] == "completed"
    assert {"node-1", *(n["id"] for n in response["new_nodes"])} <= {
        n["id"] for n in response["updated_graph"]["nodes"]}
    assert "Sample Entity" in {n["label"] for n in response["updated_graph"]["nodes"]}


def test_karma_kg_enrich_takes_the_request_file(container, tmp_path):
    """The CLI, against the suite's servers, with the scripted loopback model."""
    from tests.support.openai_server import serving

    def script(prompt: str) -> str:
        if prompt.rstrip().endswith("Plan: {"):
            return '"objective": "Link entities", "tasks": ["t"], "success_metrics": ["m"]}'
        if prompt.rstrip().endswith("Triples: ["):
            return ('{"subject": "Example Entity", "predicate": "related_to", "object": '
                    '"Sample Entity", "confidence": 0.9, "justification": "a new relation"}]')
        return '"valid": true, "confidence": 0.9, "clarity": 0.9, "relevance": 0.8}'

    env = container_env(container, tmp_path, KARMA_LLM="openai",
                        KARMA_OPENAI_MODEL="scripted")
    with serving(script) as server:
        env["KARMA_OPENAI_BASE_URL"] = server.url
        done = karma("kg", "enrich", str(EXAMPLE), "--json", env=env, cwd=tmp_path)
        missing = karma("kg", "enrich", str(tmp_path / "none.json"), env=env, cwd=tmp_path,
                        check=False)
    response = json.loads(done.stdout)
    assert [(a["subject"], a["object"]) for a in response["accepted_candidates"]] == [
        ("Example Entity", "Sample Entity")]
    assert {n["label"] for n in response["new_nodes"]} == {"Sample Entity"}
    assert missing.returncode == 2 and "cannot read" in missing.stderr
    shown = karma("kg", "show", response["graph_id"], "--graphml", env=env, cwd=tmp_path,
                  check=False)
    assert shown.returncode == 0 and "<graphml" in shown.stdout and "Sample Entity" in shown.stdout
