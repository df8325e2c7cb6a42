"""The HTTP API end to end: a real app, a real PostgreSQL, real tokens."""

import time
from collections.abc import Iterator
from decimal import Decimal

import pytest
from fastapi.testclient import TestClient

from domain.economy import reward
from entrypoints.http_api import create_app
from tests.conftest import ledger_size
from workers.task_types import issuable_task_types


@pytest.fixture
def client(container) -> Iterator[TestClient]:
    with TestClient(create_app(container)) as test_client:
        yield test_client


@pytest.fixture
def admin(container) -> dict[str, str]:
    return {"Authorization": f"Bearer {container.tokens.create('admin').token}"}


def agent_headers(container, client, admin, agent_id: str) -> dict[str, str]:
    response = client.post("/v1/agents", json={"agent_id": agent_id, "role": "reader"},
                           headers=admin)
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {container.tokens.create('agent', agent_id).token}"}


def test_a_task_runs_its_whole_lifecycle_over_http(container, client, admin):
    reader = agent_headers(container, client, admin, "reader-1")
    reviewer = agent_headers(container, client, admin, "reviewer")
    run_id = client.post("/v1/runs", json={"workflow": "research"}, headers=admin).json()["run_id"]
    task = client.post("/v1/tasks", headers=admin, json={
        "run_id": run_id, "task_type": "Summarise_Paper", "payload": {"pdf": "lora.pdf"},
        "tags": ["peft"], "base_reward": "3"}).json()
    task_id = task["task_id"]
    steps = [
        (admin, f"/v1/tasks/{task_id}/assign", {"agent_id": "reader-1", "scores": {"reader-1": 1}}),
        (reader, f"/v1/tasks/{task_id}/start", {"agent_id": "reader-1"}),
        (reader, f"/v1/tasks/{task_id}/artifacts", {"parts": [{"kind": "text", "text": "LoRA"}]}),
        (reader, f"/v1/tasks/{task_id}/complete", {"duration_ms": 900, "tokens": 120}),
        (reviewer, f"/v1/tasks/{task_id}/reviews",
         {"reviewer_id": "reviewer", "quality": 1.2, "rationale": "accurate"}),
    ]
    for headers, path, body in steps:
        response = client.post(path, json=body, headers=headers)
        assert response.status_code == 200, (path, response.text)
    position = response.json()["position"]
    board = client.get(f"/v1/tasks/{task_id}", params={"min_position": position},
                       headers=reader).json()
    assert board["state"] == "completed" and board["reviews"] == 1 and board["run_id"] == run_id
    # The first review paid the assignee by the policy's formula: base 3 x quality 1.2,
    # less 0.9 s and 120 tokens of penalties, x1.75 for a newcomer's wide rating deviation.
    expected = reward(container.policy, Decimal(3), Decimal("1.2"), 900, 120, 0, 350.0).delta
    leaderboard = client.get("/v1/karma/leaderboard", headers=reader).json()
    assert leaderboard[0]["agent_id"] == "reader-1"
    assert Decimal(leaderboard[0]["balance"]) == expected == Decimal("6.27375")
    events = client.get("/v1/events", params={"run_id": run_id}, headers=admin).json()
    assert [e["event_type"] for e in events] == [
        "RunStarted", "TaskIssued", "TaskAssigned", "TaskStarted", "ArtifactProduced",
        "TaskCompleted", "ReviewScored", "KarmaMinted", "RatingUpdated", "RatingUpdated"]
    assert events[7]["payload"]["formula"]["quality"] == "1.2"


REFUSED = [
    ("no token", None, "/v1/agents", {"agent_id": "x", "role": "r"}, 401, "unauthorized"),
    ("wrong token", "kl_000000000000_nope", "/v1/agents", {"agent_id": "x", "role": "r"},
     401, "unauthorized"),
    ("garbage token", "not-a-token", "/v1/agents", {"agent_id": "x", "role": "r"},
     401, "unauthorized"),
    ("NaN amount", "admin", "/v1/karma/mint", {"agent_id": "reader-1", "amount": "NaN",
                                               "reason": "r"}, 422, "invalid_request"),
    ("infinite amount", "admin", "/v1/karma/mint",
     {"agent_id": "reader-1", "amount": "Infinity", "reason": "r"}, 422, "invalid_request"),
    ("negative amount", "admin", "/v1/karma/mint",
     {"agent_id": "reader-1", "amount": -5, "reason": "r"}, 422, "invalid_request"),
    ("burn above balance", "admin", "/v1/karma/burn",
     {"agent_id": "reader-1", "amount": 5, "reason": "r"}, 409, "insufficient_karma"),
    ("unknown agent", "admin", "/v1/karma/mint",
     {"agent_id": "ghost", "amount": 1, "reason": "r"}, 404, "not_found"),
    ("unknown task", "admin", "/v1/tasks/nope/cancel", {"reason": "r"}, 404, "not_found"),
    ("illegal transition", "admin", "/v1/tasks/{task}/complete", {}, 409, "illegal_transition"),
    ("agent acting as another", "agent", "/v1/tasks/{task}/reject",
     {"agent_id": "reader-2", "reason": "r"}, 403, "forbidden"),
    ("agent minting", "agent", "/v1/karma/mint",
     {"agent_id": "reader-1", "amount": 1, "reason": "r"}, 403, "forbidden"),
    ("unknown field", "admin", "/v1/agents",
     {"agent_id": "x", "role": "r", "karma": 99}, 422, "invalid_request"),
    ("oversize payload", "admin", "/v1/tasks",
     {"task_type": "Fetch_Paper", "payload": {"blob": "x" * 300_000}}, 413, "payload_too_large"),
    ("NaN base reward", "admin", "/v1/tasks",
     {"task_type": "Fetch_Paper", "base_reward": "NaN"}, 422, "invalid_request"),
    ("negative base reward", "admin", "/v1/tasks",
     {"task_type": "Fetch_Paper", "base_reward": -3}, 422, "invalid_request"),
    ("unknown tag", "admin", "/v1/tasks",
     {"task_type": "Fetch_Paper", "tags": ["astrology"]}, 422, "unknown_tag"),
    ("decay without a timezone", "admin", "/v1/karma/decay",
     {"as_of": "2026-01-01T00:00:00", "agent_ids": ["reader-1"]}, 422, "invalid_request"),
    ("vote from a task with no parent", "agent", "/v1/tasks/{task}/votes",
     {"voter_id": "reader-1", "up": True}, 409, "illegal_transition"),
    ("payload over the task limit", "admin", "/v1/tasks",
     {"task_type": "Fetch_Paper", "payload": {"blob": "x" * 70_000}}, 422, "invalid_request"),
    ("task type no registry knows", "admin", "/v1/tasks", {"task_type": "A"}, 422,
     "invalid_request"),
    ("a queue the ledger does not issue", "admin", "/v1/tasks", {"task_type": "ecology-work"},
     422, "invalid_request"),
    ("NUL character in text", "admin", "/v1/agents",
     {"agent_id": "x", "role": "r", "persona": "a\u0000b"}, 422, "invalid_request"),
]


@pytest.mark.parametrize(("case", "who", "path", "body", "status", "code"), REFUSED,
                         ids=[r[0] for r in REFUSED])
def test_refused_requests_get_a_clear_error_and_write_nothing(
        container, client, admin, case, who, path, body, status, code):
    agent = agent_headers(container, client, admin, "reader-1")
    agent_headers(container, client, admin, "reader-2")
    task_id = client.post("/v1/tasks", json={"task_type": "Fetch_Paper"}, headers=admin
                          ).json()["task_id"]
    client.post(f"/v1/tasks/{task_id}/assign", json={"agent_id": "reader-2"}, headers=admin)
    headers = {"admin": admin, "agent": agent, None: {}}.get(
        who, {"Authorization": f"Bearer {who}"})
    before = ledger_size(container)
    response = client.post(path.format(task=task_id), json=body, headers=headers)
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code
    assert response.json()["error"]["message"]
    assert ledger_size(container) == before


def test_malformed_json_is_a_400_and_writes_nothing(container, client, admin):
    before = ledger_size(container)
    response = client.post("/v1/agents", content=b'{"agent_id": "x", "role": ',
                           headers={**admin, "Content-Type": "application/json"})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "malformed_json"
    assert ledger_size(container) == before


def test_reads_need_a_token_too(client):
    assert client.get("/v1/karma/leaderboard").status_code == 401


def test_a_revoked_token_no_longer_works(container, client):
    issued = container.tokens.create("admin")
    headers = {"Authorization": f"Bearer {issued.token}"}
    assert client.get("/v1/agents", headers=headers).status_code == 200
    container.tokens.revoke(issued.token_id)
    response = client.get("/v1/agents", headers=headers)
    assert response.status_code == 401 and "revoked" in response.json()["error"]["message"]


def test_the_openapi_document_lists_every_command(client):
    paths = client.get("/openapi.json").json()["paths"]
    assert "/v1/tasks/{task_id}/reviews" in paths and "/v1/karma/mint" in paths
    body_schema = paths["/v1/tasks/{task_id}/start"]["post"]["requestBody"]
    assert body_schema["required"]


def test_a_chunked_body_over_the_limit_is_a_413_and_writes_nothing(container, client, admin):
    """No Content-Length to refuse it by: the limit holds while the body streams in."""
    before = ledger_size(container)

    def chunks() -> Iterator[bytes]:
        yield b'{"agent_id": "x", "role": "r", "persona": "'
        for _ in range(160):  # 10 MiB
            yield b"x" * 65536
        yield b'"}'

    for path in ("/v1/agents", "/v1/knowledge/karma/enrich", "/a2a"):
        response = client.post(path, content=chunks(),
                               headers={**admin, "Content-Type": "application/json"})
        assert response.status_code == 413, (path, response.text)
        assert response.json()["error"]["code"] == "payload_too_large"
    assert ledger_size(container) == before


def test_a_body_that_is_not_utf8_is_a_400_and_writes_nothing(container, client, admin):
    before = ledger_size(container)
    response = client.post("/v1/agents", content=b'{"agent_id": "x\xff\xfe", "role": "r"}',
                           headers={**admin, "Content-Type": "application/json"})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "malformed_json"
    assert ledger_size(container) == before


@pytest.mark.parametrize("content_type", [None, "application/x-www-form-urlencoded",
                                          "text/plain"])
def test_a_body_not_sent_as_json_is_a_415_and_writes_nothing(container, client, admin,
                                                             content_type):
    """Bodies must say they are JSON (curl -d alone sends a form): FastAPI's strict content
    type, which keeps a browser's simple cross-site POST from being read as JSON."""
    before = ledger_size(container)
    headers = {**admin, **({"Content-Type": content_type} if content_type else {})}
    response = client.post("/v1/agents", content=b'{"agent_id": "x", "role": "r"}',
                           headers=headers)
    assert response.status_code == 415, response.text
    assert response.json()["error"]["code"] == "unsupported_media_type"
    assert ledger_size(container) == before


def test_min_position_past_the_head_is_refused_at_once(container, client, admin):
    head = client.post("/v1/agents", json={"agent_id": "r", "role": "reader"},
                       headers=admin).json()["position"]
    started = time.monotonic()
    for position in (head + 1, 2**63 - 1, 10**27):
        response = client.get("/v1/agents", params={"min_position": position}, headers=admin)
        assert response.status_code == 422, (position, response.text)
        assert response.json()["error"]["code"] == "invalid_request"
    assert time.monotonic() - started < 2  # no 5 s wait for a position nothing will write
    assert "past the ledger's head" in client.get(
        "/v1/agents", params={"min_position": head + 1}, headers=admin).json()["error"]["message"]
    assert client.get("/v1/agents", params={"min_position": head},
                      headers=admin).status_code == 200


@pytest.mark.parametrize(("path", "params"), [
    ("/v1/events", {"after": 2**63}), ("/v1/runs/r/at", {"position": 2**63}),
    ("/v1/runs/r/diff", {"from": 0, "to": 2**63}), ("/v1/aggregates/task/t", {"version": 2**63}),
    ("/v1/tasks", {"state": "a\x00b"}), ("/v1/agents/a%00b", {}),
])
def test_positions_beyond_bigint_and_nul_characters_are_422s(client, admin, path, params):
    response = client.get(path, params=params, headers=admin)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "invalid_request"


def test_unknown_paths_and_methods_answer_the_projects_error(client, admin):
    for response, status in ((client.get("/v1/nope", headers=admin), 404),
                             (client.delete("/v1/agents", headers=admin), 405)):
        assert response.status_code == status
        assert set(response.json()) == {"error"} and response.json()["error"]["message"]


def test_rest_issues_exactly_the_registrys_task_types(container, client, admin):
    for task_type in issuable_task_types():
        response = client.post("/v1/tasks", json={"task_type": task_type}, headers=admin)
        assert response.status_code == 200, (task_type, response.text)
    body = client.get("/openapi.json").json()["components"]["schemas"]["IssueTaskBody"]
    assert body["properties"]["task_type"]["enum"] == issuable_task_types()
