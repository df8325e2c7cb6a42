"""Few-shot JSON prompts for the Planner, the Extractor and the Validator. Each shows one
worked example and ends where the JSON answer starts, which a base model (Gemma 3 270M)
continues and an instruction-tuned endpoint answers alike."""

from __future__ import annotations

PLAN = """Plan how to enrich a knowledge graph. Answer with JSON: objective, tasks, success_metrics.

Goal: Map which companies supply batteries
Graph: 2 nodes (Acme Motors, Volt Cells), 0 edges
Instructions: Only supplier relations
Plan: {{"objective": "Add battery supplier relations between companies", "tasks": ["find companies named in the documents", "extract supplies relations", "validate each against its document"], "success_metrics": ["every new edge is stated in a document", "no duplicate edges"]}}

Goal: {goal}
Graph: {graph_summary}
Instructions: {instructions}
Plan: {{"""

EXTRACT = """Extract at most {limit} facts from the document as JSON triples with subject, predicate, object, confidence (0 to 1) and justification (the words of the document that state it).

Document: Volt Cells supplies lithium batteries to Acme Motors. Acme Motors is based in Ohio.
Triples: [{{"subject": "Volt Cells", "predicate": "supplies", "object": "Acme Motors", "confidence": 0.9, "justification": "Volt Cells supplies lithium batteries to Acme Motors"}}, {{"subject": "Acme Motors", "predicate": "based_in", "object": "Ohio", "confidence": 0.8, "justification": "Acme Motors is based in Ohio"}}]

Document: {document}
Triples: ["""

VALIDATE = """Check a candidate fact against its document and the graph. Answer with JSON: valid (true or false), confidence, clarity and relevance (each 0 to 1), reason.

Document: Volt Cells supplies lithium batteries to Acme Motors.
Graph: Acme Motors, Volt Cells
Goal: Map which companies supply batteries
Candidate: Volt Cells supplies Acme Motors
Verdict: {{"valid": true, "confidence": 0.95, "clarity": 0.9, "relevance": 0.9, "reason": "the document states it"}}

Document: Volt Cells supplies lithium batteries to Acme Motors.
Graph: Acme Motors, Volt Cells
Goal: Map which companies supply batteries
Candidate: Acme Motors supplies Volt Cells
Verdict: {{"valid": false, "confidence": 0.1, "clarity": 0.8, "relevance": 0.6, "reason": "the document says the opposite direction"}}

Document: {document}
Graph: {graph_summary}
Goal: {goal}
Candidate: {subject} {predicate} {object}
Verdict: {{"""

JUDGE = """Does the document state the fact? Answer Yes or No.

Document: Volt Cells supplies lithium batteries to Acme Motors. Acme Motors is based in Ohio.
Fact: Volt Cells supplies Acme Motors
Answer: Yes

Document: Volt Cells supplies lithium batteries to Acme Motors. Acme Motors is based in Ohio.
Fact: Acme Motors supplies Volt Cells
Answer: No

Document: Volt Cells supplies lithium batteries to Acme Motors. Acme Motors is based in Ohio.
Fact: Volt Cells based_in Ohio
Answer: No

Document: {document}
Fact: {subject} {predicate} {object}
Answer:"""
"""For a host that gives likelihoods: its verdict is how much likelier " Yes" is than " No",
read from one forward pass, never a generated answer that has to be parsed."""
