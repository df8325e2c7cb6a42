"""KARMA knowledge-graph enrichment (seed 001): a Planner, an Extractor and a Validator
enrich a graph from documents, every step an event of the graph's aggregate."""
