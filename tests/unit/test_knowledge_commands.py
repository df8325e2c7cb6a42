"""Enrichment's steps are commands run by the ledger service, on an in-memory ledger with a
scripted model: admins only, one chain of causes per enrichment, karma caused by the graph's
decisions."""

from collections.abc import Iterator
from decimal import Decimal
from itertools import pairwise

import pytest

from adapters.event_store import Ledger
from adapters.llm import Completion
from domain.errors import ForbiddenError
from domain.graph import KnowledgeGraph
from domain.karma import KarmaAccount
from domain.principals import Principal
from handlers import commands as c
from handlers.service import LedgerService
from knowledge.enrichment import Enrichment
from knowledge.requests import EnrichRequest
from tests.builders import StepClock

DOCUMENT = "Volt Cells supplies Acme Motors. Acme Motors is based in Ohio."


class Scripted:
    adapter, model = "scripted", "scripted-1"

    def complete(self, prompt: str, *, max_tokens: int, stop=(), timeout_s=None) -> Completion:
        return Completion(self._answer(prompt), self.adapter, self.model, 10, 5, 1)

    @staticmethod
    def _answer(prompt: str) -> str:
        if prompt.rstrip().endswith("Plan: {"):
            return '"objective": "link suppliers", "tasks": ["t"], "success_metrics": ["m"]}'
        if prompt.rstrip().endswith("Triples: ["):
            return ('{"subject": "Volt Cells", "predicate": "supplies", "object": "Acme Motors",'
                    ' "confidence": 0.9, "justification": "stated"}, {"subject": "Acme Motors",'
                    ' "predicate": "based_in", "object": "Ohio", "confidence": 0.8}]')
        if prompt.rsplit("Candidate: ", 1)[1].startswith("Volt Cells supplies Acme Motors"):
            return '"valid": true, "confidence": 0.9, "clarity": 0.8, "relevance": 0.8}'
        return '"valid": false, "confidence": 0.2, "clarity": 0.9, "relevance": 0.9}'


@pytest.fixture
def service() -> Iterator[LedgerService]:
    ledger = Ledger(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    yield LedgerService(ledger, clock=StepClock())
    ledger.close()


def enrich(service: LedgerService) -> Enrichment:
    request = EnrichRequest(graph_id="supply", documents=[DOCUMENT], goal="suppliers")
    enrichment = Enrichment(service, Scripted(), request, c.ADMIN)
    enrichment.run()
    return enrichment


def stored(service: LedgerService) -> list:
    recorder = service.ledger.recorder
    mapper = service.ledger.mapper
    return [mapper.to_domain_event(n) for n in recorder.select_notifications(start=1,
                                                                              limit=10_000)]


def test_each_step_is_caused_by_the_last_event_of_the_step_before(service):
    enrichment = enrich(service)
    enrichment_id = enrichment.outcome.enrichment_id
    events = stored(service)
    graph = [(i, e) for i, e in enumerate(events) if e.originator_id == "graph/supply"]
    assert all(e.provenance.correlation_id == enrichment_id for _, e in graph)
    assert graph[0][1].provenance.causation_id == f"command:EnrichGraph:{enrichment_id}"
    steps = 0
    for (_, before), (i, event) in pairwise(graph):
        if event.provenance.causation_id != before.provenance.causation_id:  # a new step
            assert event.provenance.causation_id == events[i - 1].event_id
            steps += 1
    # after the request: plan call, plan, extraction call, proposals, two validation calls
    # and two decisions, completion
    assert steps == 9
    assert enrichment.outcome.position == len(events)


def test_the_graph_decides_and_karma_answers_to_its_decisions(service):
    response = enrich(service).response()
    assert [a["predicate"] for a in response["accepted_candidates"]] == ["supplies"]
    assert [r["reason"][:30] for r in response["rejected_candidates"]] == [
        "the validator found it invalid"]
    extractor = service.ledger.repository.get(KarmaAccount.id_for("kg-extractor"))
    assert extractor.balance == Decimal("0.12")  # 0.2 x 0.85 for one, 0.05 off for the other
    events = stored(service)
    decisions = [e.event_id for e in events if type(e).__name__ in ("TripleAccepted",
                                                                    "TripleRejected")]
    entries = [e for e in events if e.originator_id == extractor.id
               and type(e).__name__ in ("KarmaMinted", "KarmaBurned")]
    assert [e.provenance.causation_id for e in entries] == decisions


def test_only_an_admin_may_run_an_enrichment_step(service):
    enrich(service)
    reader = Principal(role="agent", agent_id="reader-1")
    before = len(stored(service))
    with pytest.raises(ForbiddenError):
        service.execute(c.CompleteEnrichment(graph_id="supply", enrichment_id="enr-x"), reader)
    with pytest.raises(ForbiddenError):
        Enrichment(service, Scripted(), EnrichRequest(documents=[DOCUMENT], goal="g"), reader)
    assert len(stored(service)) == before
    graph = service.ledger.repository.get(KnowledgeGraph.id_for("supply"))
    assert [e["state"] for e in graph.enrichments.values()] == ["completed"]
