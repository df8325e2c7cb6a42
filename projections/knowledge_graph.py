"""Knowledge graphs: nodes, edges (active or superseded, with when) and enrichments."""

from __future__ import annotations

from typing import Any

from psycopg import Cursor
from psycopg.types.json import Jsonb

from domain.base import key_of
from domain.graph import (
    ConflictResolved,
    EnrichmentCompleted,
    EnrichmentRequested,
    GraphEdge,
    GraphNode,
    KnowledgeGraph,
    TripleAccepted,
    edge_score,
)
from projections.base import Projection, handles

NODE_UPSERT = (
    "INSERT INTO kg_nodes (graph_id, node_id, label, properties, added_position)"
    " VALUES (%s, %s, %s, %s, %s) ON CONFLICT (graph_id, node_id) DO NOTHING")
EDGE_UPSERT = (
    "INSERT INTO kg_edges (graph_id, edge_id, source, target, relation, properties, score,"
    " validator, added_position, superseded_position, superseded_by)"
    " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
    " ON CONFLICT (graph_id, edge_id) DO UPDATE SET relation = EXCLUDED.relation,"
    " properties = EXCLUDED.properties, score = EXCLUDED.score,"
    " validator = EXCLUDED.validator, superseded_position = EXCLUDED.superseded_position,"
    " superseded_by = EXCLUDED.superseded_by")


class KnowledgeGraphProjection(Projection):
    name = "knowledge_graph"
    tables = {"kg_nodes": "graph_id, node_id", "kg_edges": "graph_id, edge_id",
              "kg_enrichments": "enrichment_id"}
    origins = dict.fromkeys(("kg_nodes", "kg_edges", "kg_enrichments"),
                            KnowledgeGraph.id_for("{graph_id}"))

    @staticmethod
    def _node(curs: Cursor[Any], graph_id: str, node: GraphNode, position: int) -> None:
        curs.execute(NODE_UPSERT, (graph_id, node.id, node.label, Jsonb(node.properties),
                                   position))

    @handles(EnrichmentRequested)
    def _requested(self, event: EnrichmentRequested, curs: Cursor[Any], position: int) -> None:
        graph_id = key_of(event.originator_id)
        curs.execute(
            "INSERT INTO kg_enrichments (graph_id, enrichment_id, goal, state, requested_at,"
            " requested_position) VALUES (%s, %s, %s, 'requested', %s, %s)",
            (graph_id, event.enrichment_id, event.goal, event.timestamp, position))
        for node in event.nodes:
            self._node(curs, graph_id, node, position)
        for edge in event.edges:
            # A posted edge the graph already holds keeps its history.
            curs.execute(
                "INSERT INTO kg_edges (graph_id, edge_id, source, target, relation, properties,"
                " score, validator, added_position) VALUES (%s, %s, %s, %s, %s, %s, %s, NULL,"
                " %s) ON CONFLICT (graph_id, edge_id) DO NOTHING",
                (graph_id, edge.id, edge.source, edge.target, edge.relation,
                 Jsonb(edge.properties), edge_score(edge.properties), position))

    @handles(TripleAccepted)
    def _accepted(self, event: TripleAccepted, curs: Cursor[Any], position: int) -> None:
        graph_id = key_of(event.originator_id)
        for node in event.new_nodes:
            self._node(curs, graph_id, node, position)
        self._edge(curs, graph_id, event.edge, event.score, event.validator, position, None,
                   None)
        curs.execute("UPDATE kg_enrichments SET accepted = accepted + 1"
                     " WHERE enrichment_id = %s", (event.enrichment_id,))

    @handles(ConflictResolved)
    def _superseded(self, event: ConflictResolved, curs: Cursor[Any], position: int) -> None:
        # An edge of the graph now superseded, or a losing candidate kept as an edge born
        # superseded: one upsert either way (no row count to read in pipeline mode).
        curs.execute(
            "INSERT INTO kg_edges (graph_id, edge_id, source, target, relation, properties,"
            " score, validator, added_position, superseded_position, superseded_by)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
            " ON CONFLICT (graph_id, edge_id) DO UPDATE SET"
            " superseded_position = EXCLUDED.superseded_position,"
            " superseded_by = EXCLUDED.superseded_by",
            (key_of(event.originator_id), event.superseded.id, event.superseded.source,
             event.superseded.target, event.superseded.relation,
             Jsonb(event.superseded.properties), event.superseded_score,
             event.superseded_validator, position, position, event.winner_edge_id))

    @staticmethod
    def _edge(curs: Cursor[Any], graph_id: str, edge: GraphEdge, score: float,
              validator: str | None, position: int, superseded_at: int | None,
              superseded_by: str | None) -> None:
        curs.execute(EDGE_UPSERT, (graph_id, edge.id, edge.source, edge.target, edge.relation,
                                   Jsonb(edge.properties), score, validator, position,
                                   superseded_at, superseded_by))

    @handles(EnrichmentCompleted)
    def _completed(self, event: EnrichmentCompleted, curs: Cursor[Any], position: int) -> None:
        curs.execute(
            "UPDATE kg_enrichments SET state = 'completed', accepted = %s, rejected = %s"
            " WHERE enrichment_id = %s", (event.accepted, event.rejected, event.enrichment_id))

