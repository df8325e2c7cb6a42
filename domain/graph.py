"""A knowledge graph enriched by the KARMA agents: a request brings a graph, documents and a
goal; the Planner plans, the Extractor proposes triples, the Validator scores each one; an
accepted triple becomes an edge, and a contradiction with the graph supersedes the loser
instead of deleting it.

What a validated candidate does to the graph is decided here (``merge_candidate``): a
relation the graph already holds is a duplicate; one that contradicts active edges
(``domain.triage.opposite`` relations between the same two nodes) is accepted only if it
outscores them all, and supersedes them; otherwise it is rejected and kept superseded."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from domain.base import Aggregate, AggregateCreated, AggregateEvent, Provenance, event_id
from domain.errors import IllegalTransitionError
from domain.model_calls import ModelCallRecord
from domain.triage import opposite, relation_key


class GraphNode(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    id: str = Field(min_length=1, max_length=256)
    label: str = Field(min_length=1, max_length=512)
    properties: dict[str, Any] = {}


class GraphEdge(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    id: str = Field(min_length=1, max_length=256)
    source: str = Field(min_length=1, max_length=256)
    target: str = Field(min_length=1, max_length=256)
    relation: str = Field(min_length=1, max_length=256)
    properties: dict[str, Any] = {}


class Triple(BaseModel):
    """A candidate as the Extractor proposed it: labels, not node ids."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    subject: str = Field(min_length=1)
    predicate: str = Field(min_length=1)
    object: str = Field(min_length=1)
    confidence: float = Field(ge=0, le=1)
    justification: str = ""


@dataclass(frozen=True)
class Overturned:
    """An accepted edge that a stronger contradiction superseded: its validator answers for
    it, and the ``ConflictResolved`` that superseded it is the cause."""

    edge_id: str
    validator: str
    event_id: str


@dataclass(frozen=True)
class Merge:
    """What a validated candidate did when it met the graph."""

    candidate_id: str
    edge: GraphEdge
    """The candidate as an edge (the graph holds it only if accepted or kept superseded)."""
    score: float
    accepted: bool
    event_id: str
    """The ``TripleAccepted`` or ``TripleRejected`` that decided it."""
    new_nodes: tuple[GraphNode, ...] = ()
    reason: str = ""
    extractor_to_blame: bool = False
    """A rejected duplicate is no fault of the Extractor; a contradiction that lost is."""
    kept_edge_id: str | None = None
    """The rival that outscored it, when it lost a contradiction."""
    overturned: tuple[Overturned, ...] = ()


def edge_id(source: str, relation: str, target: str) -> str:
    digest = hashlib.sha256(f"{source}\x00{relation_key(relation)}\x00{target}".encode())
    return "e-" + digest.hexdigest()[:16]


def node_id_for(label: str, taken: set[str]) -> str:
    base = re.sub(r"[^a-z0-9]+", "-", label.lower()).strip("-")[:48] or "node"
    candidate, number = base, 2
    while candidate in taken:
        candidate, number = f"{base}-{number}", number + 1
    return candidate


class GraphCreated(AggregateCreated):
    graph_id: str

    def apply(self, graph: KnowledgeGraph) -> None:
        graph.graph_id = self.graph_id
        graph.nodes = {}
        graph.edges = {}
        graph.candidates = {}
        graph.enrichments = {}


class EnrichmentRequested(AggregateEvent):
    """What was asked: the goal, the documents, and the graph as the caller holds it (its
    nodes and edges that the ledger's graph lacks are added)."""

    enrichment_id: str
    goal: str
    instructions: str
    model: str
    documents: tuple[str, ...]
    nodes: tuple[GraphNode, ...]
    edges: tuple[GraphEdge, ...]
    settings: dict[str, Any]

    def apply(self, graph: KnowledgeGraph) -> None:
        graph.enrichments[self.enrichment_id] = {"state": "requested", "accepted": 0,
                                                 "rejected": 0}
        for node in self.nodes:
            graph.nodes.setdefault(node.id, node.model_dump())
        for edge in self.edges:
            graph.edges.setdefault(edge.id, {**edge.model_dump(), "status": "active",
                                             "score": edge_score(edge.properties),
                                             "validator": None})


def edge_score(properties: dict[str, Any]) -> float:
    """A posted edge's standing in a contradiction: its 'score' (or 'confidence') property
    in [0, 1], else an even 0.5."""
    value = properties.get("score", properties.get("confidence"))
    try:
        number = float(value)
    except (TypeError, ValueError):
        return 0.5
    return min(1.0, max(0.0, number)) if number == number else 0.5


class PlanProposed(AggregateEvent):
    enrichment_id: str
    objective: str
    tasks: tuple[str, ...]
    success_metrics: tuple[str, ...]
    parsed: bool

    def apply(self, graph: KnowledgeGraph) -> None:
        pass


class ModelCalled(AggregateEvent, ModelCallRecord):
    """A KARMA agent's call of the model: the agent log the API returns, kept for audit."""

    enrichment_id: str
    agent: str
    parsed_successfully: bool
    error: str = ""

    def apply(self, graph: KnowledgeGraph) -> None:
        pass


class TripleProposed(AggregateEvent):
    enrichment_id: str
    candidate_id: str
    document_index: int = Field(ge=0)
    subject: str
    predicate: str
    object: str
    confidence: float = Field(ge=0, le=1)
    justification: str

    def apply(self, graph: KnowledgeGraph) -> None:
        graph.candidates[self.candidate_id] = "proposed"


class TripleAccepted(AggregateEvent):
    enrichment_id: str
    candidate_id: str
    edge: GraphEdge
    new_nodes: tuple[GraphNode, ...]
    scores: dict[str, float]
    score: float
    validator: str

    def apply(self, graph: KnowledgeGraph) -> None:
        graph.candidates[self.candidate_id] = "accepted"
        graph.enrichments[self.enrichment_id]["accepted"] += 1
        for node in self.new_nodes:
            graph.nodes[node.id] = node.model_dump()
        graph.edges[self.edge.id] = {**self.edge.model_dump(), "status": "active",
                                     "score": self.score, "validator": self.validator}


class TripleRejected(AggregateEvent):
    enrichment_id: str
    candidate_id: str
    candidate: dict[str, Any]
    reason: str
    scores: dict[str, float] = {}

    def apply(self, graph: KnowledgeGraph) -> None:
        graph.candidates[self.candidate_id] = "rejected"
        graph.enrichments[self.enrichment_id]["rejected"] += 1


class ConflictDetected(AggregateEvent):
    enrichment_id: str
    candidate_id: str
    edge_id: str
    candidate_relation: str
    edge_relation: str

    def apply(self, graph: KnowledgeGraph) -> None:
        pass


class ConflictResolved(AggregateEvent):
    """The higher score stays; the loser is kept, superseded (a losing candidate as an edge
    born superseded), so the graph's history shows what was contradicted by what."""

    enrichment_id: str
    candidate_id: str
    winner_edge_id: str
    superseded: GraphEdge
    superseded_score: float
    superseded_validator: str | None
    reason: str

    def apply(self, graph: KnowledgeGraph) -> None:
        graph.edges[self.superseded.id] = {
            **self.superseded.model_dump(), "status": "superseded",
            "score": self.superseded_score, "validator": self.superseded_validator,
            "superseded_by": self.winner_edge_id}


class EnrichmentCompleted(AggregateEvent):
    enrichment_id: str
    accepted: int = Field(ge=0)
    rejected: int = Field(ge=0)

    def apply(self, graph: KnowledgeGraph) -> None:
        graph.enrichments[self.enrichment_id]["state"] = "completed"


class KnowledgeGraph(Aggregate):
    id_prefix = "graph"

    @classmethod
    def create(cls, graph_id: str, *, at: datetime, provenance: Provenance) -> KnowledgeGraph:
        return cls._create(GraphCreated, id=cls.id_for(graph_id), graph_id=graph_id,
                           timestamp=at, provenance=provenance)

    def request(self, enrichment_id: str, *, goal: str, instructions: str, model: str,
                documents: tuple[str, ...], nodes: tuple[GraphNode, ...],
                edges: tuple[GraphEdge, ...], settings: dict[str, Any], at: datetime,
                provenance: Provenance) -> None:
        if enrichment_id in self.enrichments:
            raise IllegalTransitionError(f"enrichment {enrichment_id} was already requested")
        self.trigger_event(EnrichmentRequested, enrichment_id=enrichment_id, goal=goal,
                           instructions=instructions, model=model, documents=documents,
                           nodes=nodes, edges=edges, settings=settings, timestamp=at,
                           provenance=provenance)

    def _open(self, enrichment_id: str) -> None:
        if self.enrichments.get(enrichment_id, {}).get("state") != "requested":
            raise IllegalTransitionError(f"enrichment {enrichment_id} is not in progress")

    def record(self, event_class: type[AggregateEvent], *, at: datetime,
               provenance: Provenance, **fields: Any) -> None:
        """Plans, model calls and proposals: facts of an enrichment in progress."""
        self._open(fields["enrichment_id"])
        if event_class is TripleProposed and fields["candidate_id"] in self.candidates:
            raise IllegalTransitionError(f"candidate {fields['candidate_id']} already exists")
        self.trigger_event(event_class, timestamp=at, provenance=provenance, **fields)

    def node_for(self, label: str) -> str | None:
        """The node a triple's subject or object names: by id, else by label (any case)."""
        if label in self.nodes:
            return label
        wanted = label.strip().lower()
        return next((node_id for node_id, node in self.nodes.items()
                     if node["label"].strip().lower() == wanted), None)

    def active_edges_between(self, source: str, target: str) -> list[dict[str, Any]]:
        return [edge for edge in self.edges.values() if edge["status"] == "active"
                and edge["source"] == source and edge["target"] == target]

    def _judge(self, enrichment_id: str, candidate_id: str) -> None:
        self._open(enrichment_id)
        state = self.candidates.get(candidate_id)
        if state is None:
            raise IllegalTransitionError(f"no candidate {candidate_id}")
        if state != "proposed":
            raise IllegalTransitionError(f"candidate {candidate_id} is already {state}")

    def accept(self, enrichment_id: str, candidate_id: str, *, edge: GraphEdge,
               new_nodes: tuple[GraphNode, ...], scores: dict[str, float], score: float,
               validator: str, at: datetime, provenance: Provenance) -> None:
        self._judge(enrichment_id, candidate_id)
        for end in (edge.source, edge.target):
            if end not in self.nodes and end not in {n.id for n in new_nodes}:
                raise IllegalTransitionError(f"edge {edge.id} names a missing node {end}")
        self.trigger_event(TripleAccepted, enrichment_id=enrichment_id,
                           candidate_id=candidate_id, edge=edge, new_nodes=new_nodes,
                           scores=scores, score=score, validator=validator, timestamp=at,
                           provenance=provenance)

    def reject(self, enrichment_id: str, candidate_id: str, *, candidate: dict[str, Any],
               reason: str, scores: dict[str, float], at: datetime,
               provenance: Provenance) -> None:
        if candidate_id in self.candidates:
            self._judge(enrichment_id, candidate_id)
        else:
            self._open(enrichment_id)  # a candidate that never parsed into a triple
        self.trigger_event(TripleRejected, enrichment_id=enrichment_id,
                           candidate_id=candidate_id, candidate=candidate, reason=reason,
                           scores=scores, timestamp=at, provenance=provenance)

    def supersede(self, enrichment_id: str, candidate_id: str, *, winner_edge_id: str,
                  loser: GraphEdge, loser_score: float, loser_validator: str | None,
                  reason: str, at: datetime, provenance: Provenance) -> None:
        """Settle a contradiction: ``winner_edge_id`` stays, ``loser`` is kept superseded."""
        self._open(enrichment_id)
        current = self.edges.get(loser.id)
        if current is not None and current["status"] == "superseded":
            raise IllegalTransitionError(f"edge {loser.id} is already superseded")
        self.trigger_event(ConflictResolved, enrichment_id=enrichment_id,
                           candidate_id=candidate_id, winner_edge_id=winner_edge_id,
                           superseded=loser, superseded_score=loser_score,
                           superseded_validator=loser_validator, reason=reason,
                           timestamp=at, provenance=provenance)

    def merge_candidate(self, enrichment_id: str, candidate_id: str, *, triple: Triple,
                        scores: dict[str, float], score: float, validator: str, at: datetime,
                        provenance: Provenance) -> Merge:
        """Decide a validated candidate against the graph and record the decision: a
        duplicate is rejected; each active edge it contradicts is a ``ConflictDetected``;
        the higher score wins (a tie keeps the graph's edge) and the loser is kept
        superseded."""
        self._judge(enrichment_id, candidate_id)
        when = {"at": at, "provenance": provenance}
        edge, new_nodes = self.edge_for(triple, score=score, enrichment_id=enrichment_id)
        if self._holds(edge):
            return self._refuse(enrichment_id, candidate_id, edge, score, triple, scores,
                                f"the graph already holds this relation as edge {edge.id}",
                                blame=False, **when)
        rivals = self.rivals_of(edge)
        for rival in rivals:
            self.trigger_event(ConflictDetected, enrichment_id=enrichment_id,
                               candidate_id=candidate_id, edge_id=rival["id"],
                               candidate_relation=edge.relation, edge_relation=rival["relation"],
                               timestamp=at, provenance=provenance)
        strongest = max(rivals, key=lambda rival: rival["score"], default=None)
        if strongest is not None and strongest["score"] >= score:
            return self._lose(enrichment_id, candidate_id, edge, score, triple, scores,
                              strongest, validator, **when)
        return self._win(enrichment_id, candidate_id, edge, new_nodes, score, scores, rivals,
                         validator, **when)

    def edge_for(self, triple: Triple, *, score: float,
                 enrichment_id: str) -> tuple[GraphEdge, tuple[GraphNode, ...]]:
        """The triple as an edge between the nodes its subject and object name, with the
        nodes the graph lacks (new ones, named after their labels)."""
        new_nodes: list[GraphNode] = []
        ends = []
        for label in (triple.subject, triple.object):
            found = self.node_for(label) or next(
                (n.id for n in new_nodes if n.label.lower() == label.strip().lower()), None)
            if found is None:
                taken = set(self.nodes) | {n.id for n in new_nodes}
                node = GraphNode(id=node_id_for(label, taken), label=label.strip(),
                                 properties={"source": enrichment_id})
                new_nodes.append(node)
                found = node.id
            ends.append(found)
        edge = GraphEdge(id=edge_id(ends[0], triple.predicate, ends[1]), source=ends[0],
                         target=ends[1], relation=triple.predicate,
                         properties={"confidence": triple.confidence,
                                     "justification": triple.justification, "score": score,
                                     "enrichment": enrichment_id})
        return edge, tuple(new_nodes)

    def _holds(self, edge: GraphEdge) -> bool:
        return edge.id in self.edges and self.edges[edge.id]["status"] == "active"

    def rivals_of(self, edge: GraphEdge) -> list[dict[str, Any]]:
        """The active edges between the same nodes whose relation is the opposite."""
        return [rival for rival in self.active_edges_between(edge.source, edge.target)
                if opposite(rival["relation"], edge.relation)]

    def _refuse(self, enrichment_id: str, candidate_id: str, edge: GraphEdge, score: float,
                triple: Triple, scores: dict[str, float], reason: str, *, blame: bool,
                at: datetime, provenance: Provenance,
                kept_edge_id: str | None = None) -> Merge:
        candidate = triple.model_dump()
        self.reject(enrichment_id, candidate_id, candidate=candidate, reason=reason,
                    scores=scores, at=at, provenance=provenance)
        return Merge(candidate_id, edge, score, accepted=False,
                     event_id=event_id(self.id, self.version), reason=reason,
                     extractor_to_blame=blame, kept_edge_id=kept_edge_id)

    def _lose(self, enrichment_id: str, candidate_id: str, edge: GraphEdge, score: float,
              triple: Triple, scores: dict[str, float], winner: dict[str, Any], validator: str,
              *, at: datetime, provenance: Provenance) -> Merge:
        if edge.id not in self.edges:  # a relation superseded before stays as it was
            self.supersede(enrichment_id, candidate_id, winner_edge_id=winner["id"], loser=edge,
                           loser_score=score, loser_validator=validator,
                           reason=f"contradicts edge {winner['id']} ({winner['relation']}), "
                                  f"which scores {winner['score']:.3f} >= {score:.3f}",
                           at=at, provenance=provenance)
        return self._refuse(enrichment_id, candidate_id, edge, score, triple, scores,
                            f"contradicts edge {winner['id']} of the graph, which scores higher",
                            blame=True, at=at, provenance=provenance, kept_edge_id=winner["id"])

    def _win(self, enrichment_id: str, candidate_id: str, edge: GraphEdge,
             new_nodes: tuple[GraphNode, ...], score: float, scores: dict[str, float],
             rivals: list[dict[str, Any]], validator: str, *, at: datetime,
             provenance: Provenance) -> Merge:
        self.accept(enrichment_id, candidate_id, edge=edge, new_nodes=new_nodes, scores=scores,
                    score=score, validator=validator, at=at, provenance=provenance)
        accepted = event_id(self.id, self.version)
        overturned = []
        for rival in rivals:
            loser = GraphEdge(**{k: rival[k] for k in ("id", "source", "target", "relation",
                                                       "properties")})
            self.supersede(enrichment_id, candidate_id, winner_edge_id=edge.id, loser=loser,
                           loser_score=rival["score"], loser_validator=rival.get("validator"),
                           reason=f"contradicted by {edge.relation} scoring {score:.3f} > "
                                  f"{rival['score']:.3f}", at=at, provenance=provenance)
            if rival.get("validator"):
                overturned.append(Overturned(rival["id"], rival["validator"],
                                             event_id(self.id, self.version)))
        return Merge(candidate_id, edge, score, accepted=True, event_id=accepted,
                     new_nodes=new_nodes, overturned=tuple(overturned))

    def complete(self, enrichment_id: str, *, at: datetime, provenance: Provenance) -> None:
        self._open(enrichment_id)
        tally = self.enrichments[enrichment_id]
        self.trigger_event(EnrichmentCompleted, enrichment_id=enrichment_id,
                           accepted=tally["accepted"], rejected=tally["rejected"],
                           timestamp=at, provenance=provenance)
