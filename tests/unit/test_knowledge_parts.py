"""The KARMA pieces that need no server: scoring, contradictions, tolerant parsing, GraphML."""

from xml.etree import ElementTree

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.triage import Scoring, opposite, relation_key
from knowledge.export import to_graphml
from knowledge.parsing import find_json, read_answer, triples, unit_interval, verdict_scores


def test_the_karma_weighting_threshold_and_floor():
    scoring = Scoring()
    assert scoring.score(0.9, 0.8, 0.8) == pytest.approx(0.85)
    assert scoring.verdict(0.9, 0.8, 0.8) is None
    assert "threshold" in scoring.verdict(0.6, 0.5, 0.5)
    assert "clarity under the floor" in scoring.verdict(1.0, 0.1, 1.0)
    strict = Scoring(threshold=0.9, floor=0.0)
    assert strict.verdict(0.9, 0.8, 0.8) is not None


@given(st.floats(0, 1), st.floats(0, 1), st.floats(0, 1))
def test_a_score_stays_between_its_lowest_and_highest_dimension(a, b, c):
    score = Scoring().score(a, b, c)
    assert min(a, b, c) - 1e-6 <= score <= max(a, b, c) + 1e-6


def test_opposite_relations_whatever_their_spelling():
    assert opposite("partner_of", "Competitor of") and opposite("Increases", "decreases")
    assert opposite("supplies", "not_supplies") and opposite("not supplies", "supplies")
    assert not opposite("supplies", "supplies") and not opposite("supplies", "based_in")
    assert relation_key(" Partner  Of ") == "partner_of"


@pytest.mark.parametrize(("text", "opener", "expected"), [
    ('Here you go: [{"s": 1}] hope it helps', "[", [{"s": 1}]),
    ('```json\n{"a": [1, 2,],}\n```', "{", {"a": [1, 2]}),
    ("{'valid': true, 'confidence': 0.9", "{", {"valid": True, "confidence": 0.9}),
    ('{"text": "a } inside a string"}', "{", {"text": "a } inside a string"}),
    ("no json at all", "{", None),
    ("[not, json", "[", None),
])
def test_tolerant_json_reading(text, opener, expected):
    assert find_json(text, opener) == expected


def test_scores_read_as_unit_intervals():
    assert unit_interval("85%") == 0.85 and unit_interval(85) == 0.85
    assert unit_interval(0.3) == 0.3 and unit_interval(True) is None
    assert unit_interval(float("nan")) is None and unit_interval(-1) is None
    assert unit_interval(250) is None and unit_interval("high") is None


def test_graphml_export_is_valid_xml_with_every_node_and_edge():
    graph = {"graph_id": "g", "nodes": [{"id": "a", "label": "A & B", "properties": {}},
                                        {"id": "b", "label": "<B>", "properties": {"x": 1}}],
             "edges": [{"id": "e", "source": "a", "target": "b", "relation": "r",
                        "status": "superseded", "score": 0.5, "properties": {}}]}
    root = ElementTree.fromstring(to_graphml(graph))
    ns = {"g": "http://graphml.graphdrawing.org/xmlns"}
    labels = [d.text for d in root.findall(".//g:node/g:data[@key='node_label']", ns)]
    assert labels == ["A & B", "<B>"]
    assert root.find(".//g:edge", ns).get("source") == "a"


def test_an_answer_is_read_with_or_without_the_opener_the_prompt_ended_on():
    assert read_answer('"a": 1}', "{") == {"a": 1}
    assert read_answer('Sure: {"a": 1}', "{") == {"a": 1}
    assert read_answer("", "{") is None


def test_only_well_formed_triples_are_kept_from_an_extractors_answer():
    found = triples([[{"subject": " A ", "predicate": "p", "object": "B", "confidence": "80%"},
                      {"subject": "A", "predicate": "", "object": "B"}, "noise"]])
    assert found == [{"subject": "A", "predicate": "p", "object": "B", "confidence": 0.8,
                      "justification": ""}]
    assert triples({"subject": "A"}) is None and triples([]) == []


def test_a_verdict_needs_all_three_scores():
    assert verdict_scores({"confidence": 0.9, "clarity": "80%", "relevance": 1}) == {
        "confidence": 0.9, "clarity": 0.8, "relevance": 1.0}
    assert verdict_scores({"confidence": 0.9, "clarity": 0.8}) is None
