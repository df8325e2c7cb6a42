-- Knowledge graphs as projections of their aggregates' events. Every row says at which ledger
-- position it appeared (and an edge when it was superseded), so a graph as it was at any
-- position is a filter, not a replay.
CREATE TABLE kg_nodes (
    graph_id        text NOT NULL,
    node_id         text NOT NULL,
    label           text NOT NULL,
    properties      jsonb NOT NULL,
    added_position  bigint NOT NULL,
    PRIMARY KEY (graph_id, node_id)
);

CREATE TABLE kg_edges (
    graph_id             text NOT NULL,
    edge_id              text NOT NULL,
    source               text NOT NULL,
    target               text NOT NULL,
    relation             text NOT NULL,
    properties           jsonb NOT NULL,
    score                double precision NOT NULL,
    validator            text,
    added_position       bigint NOT NULL,
    superseded_position  bigint,
    superseded_by        text,
    PRIMARY KEY (graph_id, edge_id)
);

CREATE TABLE kg_enrichments (
    graph_id        text NOT NULL,
    enrichment_id   text PRIMARY KEY,
    goal            text NOT NULL,
    state           text NOT NULL,
    accepted        integer NOT NULL DEFAULT 0,
    rejected        integer NOT NULL DEFAULT 0,
    requested_at    timestamptz NOT NULL,
    requested_position bigint NOT NULL
);
CREATE INDEX kg_enrichments_graph_idx ON kg_enrichments (graph_id, requested_position);
