"""What a document states, read without a model: the Extractor's fallback and the
Validator's first check."""

import pytest

from knowledge.statements import clarity, relevance, triples, unstated

SEED = "Document text describing a new relation between Example Entity and Sample Entity."
SUPPLY = "Volt Cells supplies lithium batteries to Acme Motors. Acme Motors is based in Ohio."


def spo(document: str, labels=()) -> list[tuple[str, str, str]]:
    return [(t["subject"], t["predicate"], t["object"]) for t in triples(document, labels)]


@pytest.mark.parametrize(("document", "expected"), [
    (SEED, [("Example Entity", "related_to", "Sample Entity")]),
    (SUPPLY, [("Volt Cells", "supplies_batteries_to", "Acme Motors"),
              ("Acme Motors", "based_in", "Ohio")]),
    ("The company Globex acquired Initech in 2019. Initech is a subsidiary of Globex.",
     [("Globex", "acquired", "Initech"), ("Initech", "subsidiary_of", "Globex")]),
    ("Quarterly weather was mild.", []),
], ids=["the seed's request", "supply", "a name that starts a sentence", "nothing named"])
def test_a_sentence_naming_two_entities_states_the_relation_between_them(document, expected):
    assert spo(document, ["Example Entity"]) == expected


def test_each_triple_is_justified_by_its_sentence_and_the_limit_holds():
    found = triples(SUPPLY, limit=1)
    assert len(found) == 1 and found[0]["justification"] == (
        "Volt Cells supplies lithium batteries to Acme Motors.")


def test_a_candidate_whose_ends_the_document_never_names_together_is_unstated():
    assert unstated("Volt Cells", "Acme Motors", SUPPLY) is None
    assert unstated("volt cells", "ACME MOTORS", SUPPLY) is None  # names, not their case
    assert "'Mars' is never named" in unstated("Volt Cells", "Mars", SUPPLY)
    assert "no sentence names both" in unstated("Volt Cells", "Ohio", SUPPLY)


def test_clarity_is_whether_the_sentence_says_the_relation_and_relevance_floors_at_a_half():
    stated = {"subject": "Acme Motors", "predicate": "based_in", "object": "Ohio"}
    vague = {"subject": "Acme Motors", "predicate": "rivals", "object": "Ohio"}
    assert clarity(stated, SUPPLY) == 1.0 and clarity(vague, SUPPLY) == 0.5
    assert relevance(stated, "Map where car makers are based") > relevance(
        stated, "Find logistics providers") == 0.5
