"""The OpenAPI document says what every route answers, and says it truly: each read and each
command documents a schema with named properties, and real answers (after real commands, on a
real PostgreSQL) fit the documented schema and the route's response model."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any, Union

import pytest
from fastapi.testclient import TestClient
from pydantic import TypeAdapter

from adapters.llm import OpenAICompatibleModel
from entrypoints.http_api import create_app
from readside import models
from readside.queries import EventFilter, Queries
from tests.builders import record_colony, record_learning
from tests.support.openai_server import serving

FOREIGN_DOCUMENTS = {"/.well-known/agent-card.json", "/a2a/agents/{agent_id}/agent-card.json",
                     "/asyncapi.json"}
"""GET routes that answer documents of other specifications (A2A Agent Cards, AsyncAPI)."""

GRAPH = {"nodes": [{"id": "acme", "label": "Acme Motors"}, {"id": "road", "label": "Road"}],
         "edges": [{"source": "acme", "target": "road", "relation": "partner_of"}]}


def planner_only(prompt: str) -> str:
    """A model that plans, then finds nothing in the documents: the posted graph stays."""
    if prompt.rstrip().endswith("Plan: {"):
        return '"objective": "o", "tasks": ["extract"], "success_metrics": ["m"]}'
    return "nothing here"


@pytest.fixture
def client(container) -> Iterator[TestClient]:
    with serving(planner_only) as server:
        model = OpenAICompatibleModel(server.url, "scripted", retries=0)
        with TestClient(create_app(container, model=model)) as test_client:
            yield test_client


@pytest.fixture
def admin(container) -> dict[str, str]:
    return {"Authorization": f"Bearer {container.tokens.create('admin').token}"}


def json_answers(document: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(method, path, schema) of every route's 200 JSON answer in the document."""
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            content = operation["responses"].get("200", {}).get("content", {})
            if "application/json" in content:
                yield method, path, content["application/json"]["schema"]


def resolve(schema: dict[str, Any], document: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def named(schema: dict[str, Any], document: dict[str, Any]) -> bool:
    """A model with named properties, an array of one, or a choice between such."""
    if "anyOf" in schema:
        return all(named(branch, document) for branch in schema["anyOf"])
    if schema.get("type") == "array":
        return named(schema["items"], document)
    return "$ref" in schema and bool(resolve(schema, document).get("properties"))


def problems(value: Any, schema: dict[str, Any], document: dict[str, Any],
             at: str = "$") -> list[str]:
    """Where ``value`` breaks the (OpenAPI 3.1) JSON schema: the subset pydantic writes. An
    object's keys must all be named by it unless it allows additional properties."""
    schema = resolve(schema, document)
    if "anyOf" in schema:
        tries = [problems(value, branch, document, at) for branch in schema["anyOf"]]
        return [] if [] in tries else [f"{at}: fits no branch: {tries}"]
    if "const" in schema and value != schema["const"]:
        return [f"{at}: {value!r} is not {schema['const']!r}"]
    if "enum" in schema and value not in schema["enum"]:
        return [f"{at}: {value!r} is not one of {schema['enum']}"]
    kind = schema.get("type")
    python = {"string": str, "integer": int, "number": (int, float), "boolean": bool,
              "null": type(None), "array": list, "object": dict}
    if kind is None:
        return []
    if not isinstance(value, python[kind]) or (kind in ("integer", "number")
                                               and isinstance(value, bool)):
        return [f"{at}: {value!r} is not of type {kind}"]
    if schema.get("format") == "date-time":
        datetime.fromisoformat(value)
    if kind == "array":
        return [p for i, item in enumerate(value)
                for p in problems(item, schema["items"], document, f"{at}[{i}]")]
    if kind == "object":
        return object_problems(value, schema, document, at)
    return []


def object_problems(value: dict[str, Any], schema: dict[str, Any], document: dict[str, Any],
                    at: str) -> list[str]:
    properties = schema.get("properties", {})
    found = [f"{at}: lacks {key!r}" for key in schema.get("required", []) if key not in value]
    extra = schema.get("additionalProperties", not properties)
    for key, item in value.items():
        if key in properties:
            found += problems(item, properties[key], document, f"{at}.{key}")
        elif isinstance(extra, dict):
            found += problems(item, extra, document, f"{at}.{key}")
        elif not extra:
            found.append(f"{at}: {key!r} is not documented")
    return found


def test_every_read_and_command_documents_named_properties(client):
    document = client.get("/openapi.json").json()
    answers = list(json_answers(document))
    reads = [(path, schema) for method, path, schema in answers
             if method == "get" and path not in FOREIGN_DOCUMENTS]
    commands = [(path, schema) for method, path, schema in answers
                if "commands" in document["paths"][path][method].get("tags", [])]
    assert len(reads) >= 19 and len(commands) >= 19
    for path, schema in reads + commands:
        assert named(schema, document), (path, schema)
    # Amounts are documented as they are answered: exact decimal strings.
    standing = document["components"]["schemas"]["Standing"]["properties"]
    assert standing["balance"]["type"] == "string"


def run_every_command(client: TestClient, admin: dict[str, str]) -> dict[str, Any]:
    """Every command route once, in a story that leaves something in every read model;
    answers by route."""
    answers: dict[str, Any] = {}

    def post(path: str, body: dict[str, Any], route: str | None = None) -> dict[str, Any]:
        response = client.post(path, json=body, headers=admin)
        assert response.status_code == 200, (path, response.text)
        answers.setdefault(route or path, response.json())
        return response.json()

    for agent_id, role in (("reader-1", "reader"), ("reader-2", "reader"),
                           ("reviewer", "reviewer"), ("temp", "reader")):
        post("/v1/agents", {"agent_id": agent_id, "role": role, "skills": ["peft"]})
    post("/v1/agents/temp/retire", {"reason": "done"}, "/v1/agents/{agent_id}/retire")
    post("/v1/runs", {"run_id": "pilot", "workflow": "research"})
    issue = {"run_id": "pilot", "task_type": "Summarise_Paper", "tags": ["peft"]}
    for task_id in ("lora", "child", "doomed", "dropped", "refused", "staked"):
        post("/v1/tasks", {**issue, "task_id": task_id, "base_reward": "3",
                           "parent_id": "lora" if task_id == "child" else None,
                           "stake_required": "1" if task_id == "staked" else None})
    story = [
        ("lora", "assign", {"agent_id": "reader-1"}),
        ("lora", "start", {"agent_id": "reader-1"}),
        ("lora", "artifacts", {"parts": [{"kind": "text", "text": "LoRA freezes W"}]}),
        ("lora", "complete", {"duration_ms": 900, "tokens": 120}),
        ("lora", "reviews", {"reviewer_id": "reviewer", "quality": 1.2, "rationale": "good"}),
        ("child", "assign", {"agent_id": "reader-2"}),
        ("child", "start", {"agent_id": "reader-2"}),
        ("child", "votes", {"voter_id": "reader-2", "up": True}),
        ("child", "input-required", {"question": "which paper?"}),
        ("doomed", "assign", {"agent_id": "reader-2"}),
        ("doomed", "start", {"agent_id": "reader-2"}),
        ("doomed", "fail", {"reason": "no pdf"}),
        ("dropped", "cancel", {"reason": "not needed"}),
        ("refused", "assign", {"agent_id": "reader-2"}),
        ("refused", "reject", {"agent_id": "reader-2", "reason": "busy"}),
        ("staked", "schedule", {"candidates": ["reader-1"]}),
    ]
    for task_id, step, body in story:
        post(f"/v1/tasks/{task_id}/{step}", body, f"/v1/tasks/{{task_id}}/{step}")
    gift = {"agent_id": "reader-2", "reason": "gift", "scope": ["peft"]}
    post("/v1/karma/mint", {**gift, "amount": "2.5"})
    post("/v1/karma/burn", {**gift, "amount": "0.5"})
    post("/v1/runs/pilot/finish", {"outcome": "succeeded"}, "/v1/runs/{run_id}/finish")
    enriched = client.post("/v1/knowledge/karma/enrich", headers=admin, json={
        "graph_id": "supply", "graph": GRAPH, "documents": ["Acme ships by Road."],
        "goal": "logistics", "timeout_s": 5})
    assert enriched.status_code == 200, enriched.text
    answers["graph position"] = enriched.json()["position"]
    # Now: the ledger refuses a decay as of an instant later than its clock.
    post("/v1/karma/decay", {"as_of": datetime.now(UTC).isoformat(), "agent_ids": ["reader-1"]})
    return answers


READS = [  # every GET route, some twice; "{head}": the ledger's head, "{graph}": the graph's
    ("/v1/agents", {}), ("/v1/agents/{agent_id}", {}), ("/v1/runs", {}),
    ("/v1/runs/{run_id}", {}), ("/v1/tasks", {"run_id": "pilot"}), ("/v1/tasks/{task_id}", {}),
    ("/v1/karma/leaderboard", {}), ("/v1/karma/leaderboard", {"tag": "peft"}),
    ("/v1/karma/stakes", {}), ("/v1/karma/{agent_id}", {}),
    ("/v1/karma/{agent_id}/history", {}), ("/v1/karma/{agent_id}/why", {}),
    ("/v1/karma/{agent_id}/why", {"scope": "peft"}), ("/v1/karma/{agent_id}/scopes", {}),
    ("/v1/runs/{run_id}/timeline", {}), ("/v1/runs/{run_id}/at", {"position": 3}),
    ("/v1/runs/{run_id}/at", {"time": "2099-01-01T00:00:00Z"}),
    ("/v1/runs/{run_id}/diff", {"from": 20, "to": "{head}"}),
    ("/v1/aggregates/{kind}/{key}", {}), ("/v1/aggregates/{kind}/{key}", {"version": 2}),
    ("/v1/events", {"limit": 1000}), ("/v1/events", {"aggregate": "task/lora"}),
    ("/v1/events", {"since": "2000-01-01T00:00:00Z", "until": "2099-01-01T00:00:00Z"}),
    ("/v1/status", {}),
    ("/v1/knowledge/graphs/{graph_id}", {}),
    ("/v1/knowledge/graphs/{graph_id}", {"position": "{graph}"}),
    # the dashboard's (entrypoints/dashboard.py)
    ("/v1/events/{event_id}/links", {}), ("/v1/event-types", {}), ("/v1/tags", {}),
    ("/v1/ratings", {}), ("/v1/ratings", {"tag": "peft"}), ("/v1/projections", {}),
    ("/v1/projections", {"digests": "true"}), ("/v1/learners", {}),
    ("/v1/learners/{learner}/health", {}), ("/v1/ecology/colonies", {}),
    ("/v1/ecology/colonies/{colony_id}", {}), ("/v1/knowledge/graphs", {}),
    ("/v1/karma/{agent_id}/why", {"newest": 1}),
]
IDS = {"agent_id": "reader-1", "run_id": "pilot", "task_id": "lora", "kind": "task",
       "key": "lora", "graph_id": "supply", "event_id": "task/lora@5", "learner": "dual",
       "colony_id": "colony-1"}


def model_of(schema: dict[str, Any]) -> Any:
    """The read side's model (readside/models.py) that a documented schema names."""
    if "anyOf" in schema:
        return Union[tuple(model_of(branch) for branch in schema["anyOf"])]  # noqa: UP007
    if schema.get("type") == "array":
        return list[model_of(schema["items"])]  # type: ignore[misc]
    return getattr(models, schema["$ref"].rsplit("/", 1)[1])


def test_real_answers_fit_the_documented_schemas_and_models(container, client, admin):
    answers = run_every_command(client, admin)
    record_learning(container.service)  # for the dashboard's learning and ecology reads
    record_colony(container.service)
    head = answers["/v1/karma/decay"]["position"]
    document = client.get("/openapi.json").json()
    schemas = {(method, path): schema for method, path, schema in json_answers(document)}
    for (method, path), schema in schemas.items():
        if method == "post" and "commands" in document["paths"][path]["post"]["tags"]:
            answer = answers[path]
            assert not problems(answer, schema, document), (path, answer)
            # Every id the command answered is a documented one, in the documented order.
            assert list(answer) == list(resolve(schema, document)["properties"]), path
    read = set()
    for path, params in READS:
        values = {key: str(value).format(head=head, graph=answers["graph position"])
                  for key, value in params.items()}
        response = client.get(path.format(**IDS), headers=admin,
                              params={**values, "min_position": head})
        assert response.status_code == 200, (path, params, response.text)
        body = response.json()
        assert body, (path, params)
        assert not problems(body, schemas["get", path], document), (path, params, body)
        adapter = TypeAdapter(model_of(schemas["get", path]))
        assert adapter.dump_python(adapter.validate_python(body), mode="json",
                                   by_alias=True) == body, path
        read.add(path)
    documented = {path for method, path in schemas if method == "get"} - FOREIGN_DOCUMENTS
    assert read == documented, documented ^ read


def test_rows_answered_are_the_read_side_rows_unchanged(container, client, admin):
    """The models describe the projections' rows without dropping or reordering a column: a
    column a migration adds needs its field in readside/models.py."""
    answers = run_every_command(client, admin)
    head = answers["/v1/karma/decay"]["position"]
    container.projections.wait_for(head)
    queries = Queries(container.datastore)
    expected = {
        "/v1/agents": queries.agents(), "/v1/agents/reader-1": queries.agent("reader-1"),
        "/v1/runs": queries.runs(), "/v1/runs/pilot": queries.run("pilot"),
        "/v1/tasks": queries.tasks(), "/v1/tasks/lora": queries.task("lora"),
        "/v1/karma/leaderboard": queries.leaderboard(),
        "/v1/karma/leaderboard?tag=peft": queries.leaderboard(tag="peft"),
        "/v1/karma/stakes": queries.stakes(), "/v1/karma/reader-1": queries.karma("reader-1"),
        "/v1/karma/reader-1/history": queries.history("reader-1"),
        "/v1/karma/reader-1/scopes": queries.scopes("reader-1"),
        "/v1/events?limit=1000": queries.events(EventFilter(limit=1000)),
        "/v1/knowledge/graphs/supply": queries.graph("supply"),
    }
    for url, rows in expected.items():
        assert rows, url
        answer = client.get(url, headers=admin).json()
        as_json = TypeAdapter(Any).dump_python(rows, mode="json")
        assert json.dumps(answer) == json.dumps(as_json), url


def error_answers(document: dict[str, Any]) -> Iterator[tuple[str, str, str, dict[str, Any]]]:
    """(method, path, status, response) of every documented status that is not a success."""
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            for status, response in operation["responses"].items():
                if not status.startswith("2"):
                    yield method, path, status, response


def test_every_error_status_is_documented_with_the_projects_error_model(client):
    document = client.get("/openapi.json").json()
    assert "HTTPValidationError" not in document["components"]["schemas"]
    documented: dict[tuple[str, str], set[str]] = {}
    for method, path, status, response in error_answers(document):
        schema = response["content"]["application/json"]["schema"]
        assert schema == {"$ref": "#/components/schemas/ErrorResponse"}, (method, path, status)
        assert response["description"], (method, path, status)
        documented.setdefault((method, path), set()).add(status)
    commands = [(method, path) for path, operations in document["paths"].items()
                for method, operation in operations.items()
                if "commands" in operation.get("tags", [])]
    for route in commands:
        assert {"400", "401", "403", "404", "409", "413", "415", "422"} <= documented[route]
    for path in ("/v1/agents", "/v1/tasks/{task_id}", "/v1/events", "/v1/status"):
        assert {"401", "422", "503"} <= documented["get", path], path
    assert {"401", "413"} <= documented["post", "/a2a"]
    error = resolve({"$ref": "#/components/schemas/ErrorResponse"}, document)
    assert error["required"] == ["error"]


def test_a2a_documents_its_json_rpc_request_and_answer(client):
    document = client.get("/openapi.json").json()
    operation = document["paths"]["/a2a"]["post"]
    body = operation["requestBody"]["content"]["application/json"]["schema"]
    request = resolve(body, document)
    assert set(request["required"]) == {"jsonrpc", "method"}
    assert request["properties"]["jsonrpc"]["const"] == "2.0"
    answer = resolve(operation["responses"]["200"]["content"]["application/json"]["schema"],
                     document)
    assert {"jsonrpc", "id", "result", "error"} <= set(answer["properties"])
    assert "204" in operation["responses"]


def test_refusals_fit_the_documented_error_model(container, client, admin):
    document = client.get("/openapi.json").json()
    error = {"$ref": "#/components/schemas/ErrorResponse"}
    refusals = [
        client.post("/v1/agents", json={"agent_id": "x"}, headers=admin),  # 422, details
        client.post("/v1/agents", json={"agent_id": "x", "role": "r"}),  # 401
        client.post("/v1/agents", content=b"{", headers={
            **admin, "Content-Type": "application/json"}),  # 400
        client.post("/v1/agents", content=b"{}", headers=admin),  # 415
        client.get("/v1/agents/ghost", headers=admin),  # 404
        client.get("/v1/agents", params={"min_position": 10**6}, headers=admin),  # 422
        client.post("/v1/karma/burn", headers=admin, json={
            "agent_id": "ghost", "amount": "1", "reason": "r"}),  # 404
    ]
    assert [r.status_code for r in refusals] == [422, 401, 400, 415, 404, 422, 404]
    for response in refusals:
        assert not problems(response.json(), error, document), response.text
    assert refusals[0].json()["error"]["details"][0]["loc"] == ["body", "role"]
