"""KARMA knowledge-graph enrichment over HTTP: a real app, a real PostgreSQL and a real
OpenAI-compatible server on loopback with scripted answers — good ones, malformed ones, slow
ones and contradictions."""

import json
import re
from collections.abc import Iterator
from decimal import Decimal
from xml.etree import ElementTree

import pytest
from fastapi.testclient import TestClient

from adapters.llm import OpenAICompatibleModel
from entrypoints.http_api import create_app
from readside.queries import Queries
from tests.conftest import ledger_size
from tests.support.openai_server import Slow, serving

SUPPLY = "Volt Cells supplies lithium batteries to Acme Motors. Acme Motors is based in Ohio."
PARTNERS = "Acme Motors signed a partnership with Road Freight to ship its cars."
NOISE = "Quarterly weather was mild."

VERDICTS = {
    "Volt Cells supplies Acme Motors": '"valid": true, "confidence": 0.95, "clarity": 0.9, '
                                       '"relevance": 0.9, "reason": "stated"}',
    "Acme Motors based_in Ohio": "probably fine, I think",  # unparsable
    "Acme Motors partner_of Road Freight": '"valid": true, "confidence": 0.9, "clarity": 0.8,'
                                           ' "relevance": 0.8, "reason": "stated"}',
    "Acme Motors sells_to Road Freight": Slow(3.0, '"valid": true}'),  # over the time limit
    "Road Freight owns Acme Motors": '"valid": true, "confidence": 0.9, "clarity": 0.1, '
                                     '"relevance": 0.9, "reason": "vague"}',  # under a floor
    "Acme Motors competitor_of Road Freight": '"valid": true, "confidence": 0.7, '
                                              '"clarity": 0.7, "relevance": 0.7, "reason": "x"}',
    "Acme Motors not_partner_of Road Freight": '"valid": true, "confidence": 1.0, '
                                               '"clarity": 1.0, "relevance": 1.0, "reason": "y"}',
}
TRIPLES = {
    SUPPLY: '{"subject": "Volt Cells", "predicate": "supplies", "object": "Acme Motors", '
            '"confidence": 0.9, "justification": "Volt Cells supplies lithium batteries"}, '
            '{"subject": "Acme Motors", "predicate": "based_in", "object": "Ohio", '
            '"confidence": 0.8, "justification": "based in Ohio"}]',
    PARTNERS: '{"subject": "Acme Motors", "predicate": "partner_of", "object": "Road Freight",'
              ' "confidence": 0.9, "justification": "signed a partnership"}, {"subject": '
              '"Acme Motors", "predicate": "sells_to", "object": "Road Freight", '
              '"confidence": 0.4, "justification": "ship"}, {"subject": "Road Freight", '
              '"predicate": "owns", "object": "Acme Motors", "confidence": 0.3, '
              '"justification": "?"}]',
    NOISE: "Sorry, I found nothing useful here.",
    "Acme Motors competes with Road Freight.": '{"subject": "Acme Motors", "predicate": '
        '"competitor_of", "object": "Road Freight", "confidence": 0.5, "justification": "x"}]',
    "Acme Motors ended its partnership with Road Freight.": '{"subject": "Acme Motors", '
        '"predicate": "not_partner_of", "object": "Road Freight", "confidence": 1.0, '
        '"justification": "ended its partnership"}]',
}


ACQUISITION = "The company Globex acquired Initech in 2019."
HIRING = "Initech hired Jane Doe as its auditor."
TRIPLES[ACQUISITION] = "Globex and Initech, I think? Not sure what to write."  # no JSON
TRIPLES[HIRING] = ('{"subject": "Initech", "predicate": "hired", "object": "John Smith", '
                   '"confidence": 0.9, "justification": "hired"}]')  # not in the document
VERDICTS["Globex acquired Initech"] = ('"valid": true, "confidence": 0.9, "clarity": 0.9, '
                                      '"relevance": 0.7, "reason": "stated"}')


def script(prompt: str):
    if prompt.rstrip().endswith("Plan: {"):
        return ('"objective": "Add supplier and logistics relations", "tasks": ["extract", '
                '"validate"], "success_metrics": ["every edge is stated in a document"]}')
    if prompt.rstrip().endswith("Triples: ["):
        document = prompt.rsplit("Document: ", 1)[1].split("\nTriples:")[0]
        return TRIPLES[document]
    candidate = re.findall(r"Candidate: (.*)\n", prompt)[-1]
    return VERDICTS[candidate]


GRAPH = {"nodes": [{"id": "acme", "label": "Acme Motors", "properties": {"type": "Company"}},
                   {"id": "road", "label": "Road Freight", "properties": {"type": "Company"}}],
         "edges": [{"source": "acme", "target": "road", "relation": "competitor_of",
                    "properties": {"score": 0.4}}]}


@pytest.fixture
def scripted() -> Iterator:
    with serving(script) as server:
        yield server


@pytest.fixture
def client(container, scripted) -> Iterator[TestClient]:
    model = OpenAICompatibleModel(scripted.url, "scripted", retries=0)
    with TestClient(create_app(container, follow_projections=False, model=model)) as test:
        yield test


@pytest.fixture
def admin(container) -> dict[str, str]:
    return {"Authorization": f"Bearer {container.tokens.create('admin').token}"}


def enrich(client, admin, documents, graph=None, **extra):
    body = {"graph_id": "supply", "model": "kautism/DeepSeek-R1-Distill-Qwen-1.5B",
            "graph": graph or {"nodes": [], "edges": []}, "documents": documents,
            "goal": "Augment the supply chain graph with logistics providers",
            "instructions": "Prefer high-confidence supplier relationships only",
            "timeout_s": 1.0, **extra}
    response = client.post("/v1/knowledge/karma/enrich", json=body, headers=admin)
    assert response.status_code == 200, response.text
    return response.json()


def test_an_enrichment_plans_extracts_validates_and_supersedes_the_contradicted_edge(
        container, client, admin):
    result = enrich(client, admin, [SUPPLY, PARTNERS, NOISE], GRAPH)

    assert result["plan"]["objective"] == "Add supplier and logistics relations"
    accepted = {(a["subject"], a["predicate"], a["object"]) for a in result["accepted_candidates"]}
    assert accepted == {("Volt Cells", "supplies", "Acme Motors"),
                        ("Acme Motors", "partner_of", "Road Freight")}
    reasons = {(r["candidate"].get("predicate"), r["reason"]) for r in
               result["rejected_candidates"]}
    by_predicate = dict(reasons)
    assert by_predicate["based_in"] == "Validator agent returned an unparsable response"
    assert by_predicate["sells_to"].startswith("validation error:")
    assert "clarity under the floor" in by_predicate["owns"]
    assert by_predicate[None] == "Extractor agent returned an unparsable response"
    # The posted competitor_of edge (score 0.4) lost to partner_of (0.85): kept, superseded.
    edges = {e["relation"]: e for e in result["updated_graph"]["edges"]}
    assert edges["competitor_of"]["status"] == "superseded"
    assert edges["competitor_of"]["superseded_by"] == edges["partner_of"]["id"]
    assert edges["partner_of"]["status"] == "active"
    assert {n["label"] for n in result["new_nodes"]} == {"Volt Cells"}
    # Five candidates validated; the slow one timed out, was retried once (the default) and
    # timed out again: both attempts are in the log, the first saying it was retried.
    assert [log["agent"] for log in result["agent_logs"]] == (
        ["planner"] + ["extractor"] * 3 + ["validator"] * 6)
    retried = [log["response"] for log in result["agent_logs"] if "retrying" in log["response"]]
    assert len(retried) == 1 and "retrying (attempt 1 of 2)" in retried[0]
    assert "timed out" in retried[0]
    assert all(set(log) == {"agent", "prompt", "response", "timestamp_ms",
                            "parsed_successfully"} for log in result["agent_logs"])
    assert [log["parsed_successfully"] for log in result["agent_logs"]][1:4] == [
        True, True, False]

    container.projections.catch_up()
    events = [e["event_type"] for e in client.get(
        "/v1/events", params={"limit": 1000}, headers=admin).json()]
    for kind in ("EnrichmentRequested", "PlanProposed", "TripleProposed", "TripleAccepted",
                 "TripleRejected", "ConflictDetected", "ConflictResolved", "ModelCalled",
                 "EnrichmentCompleted"):
        assert kind in events, kind


def test_graphs_are_projections_readable_as_they_were_and_validators_pay_for_overturned_calls(
        container, client, admin):
    first = enrich(client, admin, [PARTNERS], GRAPH)
    after_first = first["position"]
    # A weaker contradiction loses and is kept as a superseded edge...
    second = enrich(client, admin, ["Acme Motors competes with Road Freight."])
    assert second["accepted_candidates"] == []
    assert "contradicts edge" in second["rejected_candidates"][0]["reason"]
    # ...a stronger one wins, and the validator that accepted partner_of pays for it.
    validator_before = container.ledger.repository.get("karma/kg-validator").balance
    third = enrich(client, admin, ["Acme Motors ended its partnership with Road Freight."])
    assert [a["predicate"] for a in third["accepted_candidates"]] == ["not_partner_of"]
    validator_after = container.ledger.repository.get("karma/kg-validator").balance
    # Paid 0.1 for the new acceptance, then fined 0.3 for the overturned one (never below 0).
    assert validator_after == max(Decimal(0), validator_before + Decimal("0.1") - Decimal("0.3"))
    container.projections.catch_up()
    fines = [entry for entry in Queries(container.datastore).history("kg-validator")
             if entry["kind"] == "burned"]
    assert len(fines) == 1 and "was overturned by" in fines[0]["reason"]
    assert container.ledger.repository.get("karma/kg-extractor").balance > 0

    now = client.get("/v1/knowledge/graphs/supply", headers=admin).json()
    status = {e["relation"]: e["status"] for e in now["edges"]}
    assert status == {"partner_of": "superseded", "competitor_of": "superseded",
                      "not_partner_of": "active"}
    then = client.get("/v1/knowledge/graphs/supply", params={"position": after_first},
                      headers=admin).json()
    assert {e["relation"]: e["status"] for e in then["edges"]} == {
        "partner_of": "active", "competitor_of": "superseded"}
    assert len(then["enrichments"]) == 1 and len(now["enrichments"]) == 3

    graphml = client.get("/v1/knowledge/graphs/supply", params={"format": "graphml"},
                         headers=admin)
    root = ElementTree.fromstring(graphml.content)
    ns = {"g": "http://graphml.graphdrawing.org/xmlns"}
    assert len(root.findall(".//g:node", ns)) == len(now["nodes"]) == 2
    assert len(root.findall(".//g:edge", ns)) == 3

    past_head = client.get("/v1/knowledge/graphs/supply", params={"position": 10**9},
                           headers=admin)
    assert past_head.status_code == 422 and "past the ledger's head" in past_head.text
    assert client.get("/v1/knowledge/graphs/nope", headers=admin).status_code == 404
    # The view replays from event 1 to the same digest.
    assert container.projections.rebuild("knowledge_graph", keep=False).identical


def test_an_unreadable_extraction_falls_back_on_the_sentences_and_inventions_are_refused(
        container, client, admin, scripted):
    result = enrich(client, admin, [ACQUISITION, HIRING])
    accepted = [(a["candidate_id"], a["subject"], a["predicate"], a["object"])
                for a in result["accepted_candidates"]]
    # The model's answer held no triple: the sentence's own is proposed, marked .p0, and the
    # Validator (the model) still judged it.
    [(candidate_id, *triple)] = accepted
    assert candidate_id.endswith(".d0.p0") and triple == ["Globex", "acquired", "Initech"]
    assert any("Candidate: Globex acquired Initech" in prompt for prompt in scripted.prompts)
    reasons = {r["candidate"].get("object"): r["reason"] for r in result["rejected_candidates"]}
    assert reasons[None] == "Extractor agent returned an unparsable response"
    # A person the document never names is refused before any model is asked.
    assert reasons["John Smith"] == "not stated in its document: 'John Smith' is never named"
    assert not any("Candidate: Initech hired John Smith" in prompt
                   for prompt in scripted.prompts)


BAD = [
    ("edge naming a missing node", {"graph": {"nodes": [{"id": "a", "label": "A"}], "edges": [
        {"source": "a", "target": "b", "relation": "r"}]}}, 422, "missing node 'b'"),
    ("duplicate node ids", {"graph": {"nodes": [{"id": "a", "label": "A"},
                                                {"id": "a", "label": "B"}]}}, 422,
     "duplicate node id"),
    ("no documents", {"documents": []}, 422, "documents"),
    ("an empty document", {"documents": ["   "]}, 422, "document 0 is empty"),
    ("a threshold above 1", {"scoring": {"threshold": 2}}, 422, "threshold"),
    ("retries beyond five", {"retries": 9}, 422, "retries"),
]


@pytest.mark.parametrize(("case", "change", "status", "message"), BAD, ids=[b[0] for b in BAD])
def test_bad_requests_are_refused_and_write_nothing(container, client, admin, case, change,
                                                   status, message):
    body = {"graph_id": "g", "documents": [SUPPLY], "goal": "g", **change}
    before = ledger_size(container)
    response = client.post("/v1/knowledge/karma/enrich", json=body, headers=admin)
    assert response.status_code == status and message in response.text, response.text
    assert ledger_size(container) == before


def test_tokens_and_body_size_are_checked_before_anything_is_written(container, client, admin):
    body = {"documents": [SUPPLY], "goal": "g"}
    before = ledger_size(container)
    assert client.post("/v1/knowledge/karma/enrich", json=body).status_code == 401
    wrong = {"Authorization": "Bearer kl_000000000000_nope"}
    assert client.post("/v1/knowledge/karma/enrich", json=body, headers=wrong).status_code == 401
    container.service.execute(__import__("handlers.commands", fromlist=["x"]).RegisterAgent(
        agent_id="reader-1", role="reader"))
    agent = {"Authorization": f"Bearer {container.tokens.create('agent', 'reader-1').token}"}
    refused = client.post("/v1/knowledge/karma/enrich", json=body, headers=agent)
    assert refused.status_code == 403
    written = ledger_size(container)
    huge = {"documents": ["x" * 300_000], "goal": "g"}
    assert client.post("/v1/knowledge/karma/enrich", content=json.dumps(huge),
                       headers={**admin, "Content-Type": "application/json"}
                       ).status_code == 413
    assert ledger_size(container) == written == before + 2  # the agent and its account only
