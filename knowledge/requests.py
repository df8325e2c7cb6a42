"""The enrichment API's request, as seed 001 writes it, validated at the door."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from domain.base import SLUG_PATTERN
from domain.graph import GraphEdge, GraphNode, edge_id
from domain.triage import Scoring

MAX_DOCUMENTS = 32
MAX_DOCUMENT_CHARS = 20_000


class NodeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: Annotated[str, Field(min_length=1, max_length=256)]
    label: Annotated[str, Field(min_length=1, max_length=512)]
    properties: dict[str, Any] = {}


class EdgeIn(BaseModel):
    """An edge of the posted graph; ``relation`` may also be spelled ``label`` or
    ``predicate``, and ``source``/``target`` as ``from``/``to``."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    id: Annotated[str, Field(min_length=1, max_length=256)] | None = None
    source: Annotated[str, Field(min_length=1, max_length=256)]
    target: Annotated[str, Field(min_length=1, max_length=256)]
    relation: Annotated[str, Field(min_length=1, max_length=256)]
    properties: dict[str, Any] = {}

    @model_validator(mode="before")
    @classmethod
    def _aliases(cls, data: Any) -> Any:
        if isinstance(data, dict):
            data = dict(data)
            for alias, name in (("from", "source"), ("to", "target"), ("label", "relation"),
                                ("predicate", "relation")):
                if alias in data and name not in data:
                    data[name] = data.pop(alias)
        return data


class GraphIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    nodes: Annotated[list[NodeIn], Field(max_length=5000)] = []
    edges: Annotated[list[EdgeIn], Field(max_length=20000)] = []

    @model_validator(mode="after")
    def _consistent(self) -> GraphIn:
        seen: set[str] = set()
        for node in self.nodes:
            if node.id in seen:
                raise ValueError(f"duplicate node id {node.id!r}")
            seen.add(node.id)
        for edge in self.edges:
            for end in (edge.source, edge.target):
                if end not in seen:
                    raise ValueError(f"edge {edge.id or edge.relation!r} names a missing node "
                                     f"{end!r}")
        return self

    def domain_nodes(self) -> tuple[GraphNode, ...]:
        return tuple(GraphNode(id=n.id, label=n.label, properties=n.properties)
                     for n in self.nodes)

    def domain_edges(self) -> tuple[GraphEdge, ...]:
        return tuple(GraphEdge(id=e.id or edge_id(e.source, e.relation, e.target),
                               source=e.source, target=e.target, relation=e.relation,
                               properties=e.properties) for e in self.edges)


class EnrichRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    graph_id: Annotated[str, Field(pattern=SLUG_PATTERN)] | None = None
    """The ledger's graph to enrich (created when new); a new one is named when absent."""
    model: Annotated[str, Field(max_length=256)] = ""
    """Recorded; the server's configured model answers (seed 001 reuses loaded models)."""
    graph: GraphIn = GraphIn()
    documents: Annotated[list[str], Field(min_length=1, max_length=MAX_DOCUMENTS)]
    goal: Annotated[str, Field(min_length=1, max_length=2000)]
    instructions: Annotated[str, Field(max_length=4000)] = ""
    max_candidates_per_document: Annotated[int, Field(ge=1, le=32)] = 8
    scoring: Scoring = Scoring()
    timeout_s: Annotated[float, Field(gt=0, le=300)] = 30.0
    retries: Annotated[int, Field(ge=0, le=5)] = 1
    """How many times a model call that fails or times out is tried again."""

    @field_validator("documents")
    @classmethod
    def _documents(cls, documents: list[str]) -> list[str]:
        for index, document in enumerate(documents):
            if not document.strip():
                raise ValueError(f"document {index} is empty")
            if len(document) > MAX_DOCUMENT_CHARS:
                raise ValueError(f"document {index} has {len(document)} characters; the "
                                 f"limit is {MAX_DOCUMENT_CHARS}")
        return documents
