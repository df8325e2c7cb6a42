"""The knowledge graph's conflict rules and their karma, against hand-built graphs: what a
validated candidate does when it meets the graph (KnowledgeGraph.merge_candidate) and what
the KARMA agents earn or lose for it (domain.graph_karma)."""

from decimal import Decimal

import pytest

from domain.base import event_id
from domain.economy import KnowledgeRule
from domain.errors import IllegalTransitionError
from domain.graph import (
    ConflictDetected,
    ConflictResolved,
    GraphEdge,
    GraphNode,
    KnowledgeGraph,
    Triple,
    TripleAccepted,
    TripleProposed,
    TripleRejected,
    edge_id,
)
from domain.graph_karma import KarmaMove, for_merge, for_rejection
from tests.builders import PROVENANCE, T0

P = {"at": T0, "provenance": PROVENANCE}
ENR = "enr-1"
RULE = KnowledgeRule()
ACME = GraphNode(id="acme", label="Acme Motors")
ROAD = GraphNode(id="road", label="Road Freight")


def posted(relation: str, score: float) -> GraphEdge:
    return GraphEdge(id=edge_id("acme", relation, "road"), source="acme", target="road",
                     relation=relation, properties={"score": score})


def graph_with(*edges: GraphEdge) -> KnowledgeGraph:
    graph = KnowledgeGraph.create("g", **P)
    graph.request(ENR, goal="goal", instructions="", model="", documents=("doc",),
                  nodes=(ACME, ROAD), edges=edges, settings={}, **P)
    graph.collect_events()
    return graph


def merge(graph: KnowledgeGraph, candidate_id: str, subject: str, predicate: str, obj: str,
          score: float, validator: str = "kg-validator"):
    triple = Triple(subject=subject, predicate=predicate, object=obj, confidence=0.9,
                    justification="stated")
    graph.record(TripleProposed, enrichment_id=ENR, candidate_id=candidate_id,
                 document_index=0, **triple.model_dump(), **P)
    graph.collect_events()
    return graph.merge_candidate(ENR, candidate_id, triple=triple,
                                 scores={"confidence": score, "clarity": score,
                                         "relevance": score},
                                 score=score, validator=validator, **P)


def kinds(graph: KnowledgeGraph) -> list[type]:
    return [type(event) for event in graph.collect_events()]


def test_a_new_relation_is_accepted_with_the_nodes_the_graph_lacks():
    graph = graph_with()
    result = merge(graph, "c1", "Volt Cells", "supplies", "acme motors", 0.9)
    assert result.accepted and result.reason == ""
    assert [n.label for n in result.new_nodes] == ["Volt Cells"]
    assert (result.edge.source, result.edge.target) == ("volt-cells", "acme")
    assert result.edge.properties == {"confidence": 0.9, "justification": "stated",
                                      "score": 0.9, "enrichment": ENR}
    assert kinds(graph) == [TripleAccepted]
    assert result.event_id == event_id(graph.id, graph.version)
    assert graph.edges[result.edge.id]["status"] == "active"
    assert graph.candidates["c1"] == "accepted"


def test_a_relation_the_graph_holds_is_a_duplicate_and_no_fault_of_the_extractor():
    graph = graph_with(posted("supplies", 0.5))
    result = merge(graph, "c1", "Acme Motors", "Supplies", "Road Freight", 0.9)
    assert not result.accepted and not result.extractor_to_blame
    assert result.reason == f"the graph already holds this relation as edge {result.edge.id}"
    assert kinds(graph) == [TripleRejected]
    assert for_merge(RULE, result, extractor_id="x", validator_id="v") == []


def test_a_stronger_contradiction_wins_and_supersedes_the_weaker_edge():
    weaker = posted("competitor_of", 0.4)
    graph = graph_with(weaker)
    result = merge(graph, "c1", "Acme Motors", "partner_of", "Road Freight", 0.85)
    assert result.accepted and result.kept_edge_id is None
    events = graph.collect_events()
    assert [type(e) for e in events] == [ConflictDetected, TripleAccepted, ConflictResolved]
    detected, _, resolved = events
    assert (detected.edge_id, detected.candidate_relation, detected.edge_relation) == (
        weaker.id, "partner_of", "competitor_of")
    assert resolved.winner_edge_id == result.edge.id and resolved.superseded.id == weaker.id
    assert graph.edges[weaker.id]["status"] == "superseded"
    assert graph.edges[weaker.id]["superseded_by"] == result.edge.id
    assert result.overturned == ()  # a posted edge has no validator to fine


def test_a_weaker_or_equal_contradiction_is_rejected_and_kept_superseded():
    stronger = posted("competitor_of", 0.85)
    graph = graph_with(stronger)
    result = merge(graph, "c1", "Acme Motors", "partner_of", "Road Freight", 0.85)
    assert not result.accepted and result.extractor_to_blame
    assert result.kept_edge_id == stronger.id
    assert result.reason == f"contradicts edge {stronger.id} of the graph, which scores higher"
    assert kinds(graph) == [ConflictDetected, ConflictResolved, TripleRejected]
    assert graph.edges[stronger.id]["status"] == "active"
    assert graph.edges[result.edge.id]["status"] == "superseded"
    assert graph.edges[result.edge.id]["validator"] == "kg-validator"


def test_a_relation_superseded_before_loses_again_without_a_second_resolution():
    graph = graph_with(posted("competitor_of", 0.9))
    first = merge(graph, "c1", "Acme Motors", "partner_of", "Road Freight", 0.5)
    graph.collect_events()
    again = merge(graph, "c2", "Acme Motors", "partner_of", "Road Freight", 0.6)
    assert again.edge.id == first.edge.id and again.kept_edge_id == first.kept_edge_id
    assert kinds(graph) == [ConflictDetected, TripleRejected]


def test_a_winner_supersedes_every_edge_it_contradicts_and_fines_their_validators():
    graph = graph_with(posted("competitor_of", 0.4))
    earlier = merge(graph, "c1", "Acme Motors", "not_partner_of", "Road Freight", 0.7,
                    validator="kg-validator-1")
    graph.collect_events()
    result = merge(graph, "c2", "Acme Motors", "partner_of", "Road Freight", 0.9)
    assert result.accepted
    assert [type(e) for e in graph.collect_events()] == [
        ConflictDetected, ConflictDetected, TripleAccepted, ConflictResolved, ConflictResolved]
    assert [o.edge_id for o in result.overturned] == [earlier.edge.id]
    assert result.overturned[0].validator == "kg-validator-1"
    assert result.overturned[0].event_id == event_id(graph.id, graph.version)
    assert all(e["status"] == "superseded" for e in graph.edges.values()
               if e["id"] != result.edge.id)


def test_a_candidate_is_decided_once():
    graph = graph_with()
    merge(graph, "c1", "Acme Motors", "supplies", "Road Freight", 0.9)
    with pytest.raises(IllegalTransitionError, match="already accepted"):
        graph.merge_candidate(ENR, "c1", triple=Triple(subject="a", predicate="b", object="c",
                                                       confidence=1.0),
                              scores={}, score=0.9, validator="v", **P)


def test_an_accepted_triple_pays_its_extractor_by_score_and_its_validator():
    graph = graph_with()
    result = merge(graph, "c1", "Volt Cells", "supplies", "Acme Motors", 0.85)
    moves = for_merge(RULE, result, extractor_id="kg-extractor", validator_id="kg-validator")
    assert moves == [
        KarmaMove("kg-extractor", Decimal("0.17"), True,
                  f"triple c1 accepted as edge {result.edge.id}", result.event_id),
        KarmaMove("kg-validator", Decimal("0.1"), True, "accepted triple c1", result.event_id),
    ]


def test_an_overturned_acceptance_fines_the_validator_that_made_it():
    graph = graph_with()
    earlier = merge(graph, "c1", "Acme Motors", "partner_of", "Road Freight", 0.7,
                    validator="kg-validator-1")
    graph.collect_events()
    result = merge(graph, "c2", "Acme Motors", "not_partner_of", "Road Freight", 0.9)
    fine = for_merge(RULE, result, extractor_id="kg-extractor", validator_id="kg-validator")[-1]
    assert fine == KarmaMove(
        "kg-validator-1", Decimal("0.3"), False,
        f"its acceptance of edge {earlier.edge.id} was overturned by {result.edge.id}",
        result.overturned[0].event_id)


def test_a_lost_contradiction_fines_the_extractor_for_the_rejection():
    graph = graph_with(posted("competitor_of", 0.9))
    result = merge(graph, "c1", "Acme Motors", "partner_of", "Road Freight", 0.5)
    assert for_merge(RULE, result, extractor_id="kg-extractor", validator_id="v") == [
        KarmaMove("kg-extractor", Decimal("0.05"), False,
                  f"triple c1 rejected: {result.reason}", result.event_id)]


def test_a_rule_set_to_zero_moves_nothing_and_reasons_are_cut_short():
    free = KnowledgeRule(triple_rejected=Decimal(0))
    assert for_rejection(free, extractor_id="x", candidate_id="c", reason="r",
                         rejected_event="g@1") == []
    [move] = for_rejection(RULE, extractor_id="x", candidate_id="c", reason="y" * 500,
                           rejected_event="g@1")
    assert move.reason == "triple c rejected: " + "y" * 200
