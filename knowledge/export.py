"""A graph out as JSON (the API's shape) or GraphML (for Gephi, yEd, networkx)."""

from __future__ import annotations

import json
from typing import Any
from xml.etree import ElementTree as ET

GRAPHML = "http://graphml.graphdrawing.org/xmlns"

NODE_KEYS = (("label", "string"), ("properties", "string"))
EDGE_KEYS = (("relation", "string"), ("status", "string"), ("score", "double"),
             ("properties", "string"))


def to_graphml(graph: dict[str, Any]) -> str:
    ET.register_namespace("", GRAPHML)
    root = ET.Element(f"{{{GRAPHML}}}graphml")
    for domain, keys in (("node", NODE_KEYS), ("edge", EDGE_KEYS)):
        for name, kind in keys:
            ET.SubElement(root, f"{{{GRAPHML}}}key", {
                "id": f"{domain}_{name}", "for": domain, "attr.name": name,
                "attr.type": kind})
    body = ET.SubElement(root, f"{{{GRAPHML}}}graph", {
        "id": graph["graph_id"], "edgedefault": "directed"})
    for node in graph["nodes"]:
        element = ET.SubElement(body, f"{{{GRAPHML}}}node", {"id": node["id"]})
        _data(element, "node_label", node["label"])
        _data(element, "node_properties", json.dumps(node["properties"], sort_keys=True))
    for edge in graph["edges"]:
        element = ET.SubElement(body, f"{{{GRAPHML}}}edge", {
            "id": edge["id"], "source": edge["source"], "target": edge["target"]})
        _data(element, "edge_relation", edge["relation"])
        _data(element, "edge_status", edge["status"])
        _data(element, "edge_score", repr(float(edge["score"])))
        _data(element, "edge_properties", json.dumps(edge["properties"], sort_keys=True))
    return ET.tostring(root, encoding="unicode", xml_declaration=True)


def _data(parent: ET.Element, key: str, value: str) -> None:
    ET.SubElement(parent, f"{{{GRAPHML}}}data", {"key": key}).text = value


def graph_of_aggregate(graph_id: str, nodes: dict[str, Any], edges: dict[str, Any]
                       ) -> dict[str, Any]:
    """The API's graph shape from an aggregate's state."""
    return {
        "graph_id": graph_id,
        "nodes": [{"id": k, "label": v["label"], "properties": v["properties"]}
                  for k, v in sorted(nodes.items())],
        "edges": [{"id": k, "source": v["source"], "target": v["target"],
                   "relation": v["relation"], "properties": v["properties"],
                   "status": v["status"], "score": v["score"],
                   "superseded_by": v.get("superseded_by")}
                  for k, v in sorted(edges.items())],
    }
