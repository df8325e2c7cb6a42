"""A2A JSON-RPC at /a2a and the Agent Cards, over a real app and a real PostgreSQL."""

from collections.abc import Iterator
from functools import partial

import pytest
from fastapi.testclient import TestClient

from entrypoints.http_api import create_app
from handlers.commands import RegisterAgent
from swarm.corpus import PILOT, write_pdf
from tests.conftest import ledger_size
from workers.task_handlers import fetch_paper
from workers.task_worker import TaskMessage, TaskWorker


@pytest.fixture
def client(container) -> Iterator[TestClient]:
    with TestClient(create_app(container, follow_projections=False)) as test_client:
        yield test_client


@pytest.fixture
def admin(container) -> dict[str, str]:
    return {"Authorization": f"Bearer {container.tokens.create('admin').token}"}


def rpc(client, headers, method, params, request_id=1):
    response = client.post("/a2a", headers=headers, json={
        "jsonrpc": "2.0", "id": request_id, "method": method, "params": params})
    assert response.status_code == 200, response.text
    return response.json()


def test_a_task_sent_over_a2a_is_worked_read_and_its_karma_reported(container, client, admin,
                                                                     tmp_path):
    paper = write_pdf(PILOT[0], tmp_path)
    sent = rpc(client, admin, "message/send", {
        "id": "a2a-fetch-1", "task_type": "Fetch_Paper", "payload": {"path": str(paper)},
        "session_id": "research-123", "metadata": {}})
    assert sent["id"] == 1
    assert sent["result"]["status"] == "submitted" and sent["result"]["kind"] == "task"
    assert sent["result"]["contextId"] == "research-123"

    container.service.execute(RegisterAgent(agent_id="fetcher-1", role="fetcher"))
    worker = TaskWorker(container.service, "fetcher-1",
                        {"Fetch_Paper": partial(fetch_paper, cache_dir=tmp_path / "cache")})
    message = TaskMessage(task_id="a2a-fetch-1", task_type="Fetch_Paper",
                          payload={"path": str(paper)})
    worker.claim(message)
    worker.perform(message)

    got = rpc(client, admin, "tasks/get", {"id": "a2a-fetch-1"})["result"]
    assert got["status"] == "completed" and got["assignee"] == "fetcher-1"
    kinds = [part["kind"] for part in got["artifacts"][0]["parts"]]
    assert kinds == ["file", "data"] and got["karma_delta"] == "0"


def test_the_a2a_message_shape_is_accepted_and_a_task_can_be_canceled_once(client, admin):
    sent = rpc(client, admin, "message/send", {"message": {
        "role": "user", "messageId": "m1", "taskId": "a2a-sum-1", "contextId": "ctx",
        "parts": [{"kind": "data", "data": {"paper": "lora", "uri": "file:///x.pdf"}}],
        "metadata": {"task_type": "Summarise_Paper"}}})["result"]
    assert sent["id"] == "a2a-sum-1" and sent["task_type"] == "Summarise_Paper"
    canceled = rpc(client, admin, "tasks/cancel", {"id": "a2a-sum-1", "reason": "no longer needed"})
    assert canceled["result"]["status"] == "canceled"
    again = rpc(client, admin, "tasks/cancel", {"id": "a2a-sum-1"})
    assert again["error"]["code"] == -32002 and "canceled" in again["error"]["message"]


REFUSED = [
    ("not JSON", b"{nope", -32700),
    ("a batch", b'[{"jsonrpc": "2.0", "method": "tasks/get", "id": 1}]', -32600),
    ("not JSON-RPC 2.0", b'{"jsonrpc": "1.0", "method": "tasks/get", "id": 1}', -32600),
    ("unknown method", b'{"jsonrpc": "2.0", "method": "tasks/delete", "id": 1}', -32601),
    ("unknown task type", b'{"jsonrpc": "2.0", "method": "message/send", "id": 1, "params": '
                          b'{"task_type": "Launch_Rockets"}}', -32602),
    ("oversize payload", b'{"jsonrpc": "2.0", "method": "message/send", "id": 1, "params": '
                         b'{"task_type": "Fetch_Paper", "payload": {"blob": "'
                         + b"x" * 70_000 + b'"}}}', -32602),
    ("unknown task", b'{"jsonrpc": "2.0", "method": "tasks/get", "id": 1, "params": '
                     b'{"id": "no-such-task"}}', -32001),
    ("cancel unknown", b'{"jsonrpc": "2.0", "method": "tasks/cancel", "id": 1, "params": '
                       b'{"id": "no-such-task"}}', -32001),
    ("bad params", b'{"jsonrpc": "2.0", "method": "message/send", "id": 1, "params": '
                   b'{"task_type": "Fetch_Paper", "payload": "not an object"}}', -32602),
]


@pytest.mark.parametrize(("case", "body", "code"), REFUSED, ids=[r[0] for r in REFUSED])
def test_refused_requests_get_a_json_rpc_error_and_write_nothing(container, client, admin,
                                                                 case, body, code):
    before = ledger_size(container)
    response = client.post("/a2a", content=body,
                           headers={**admin, "Content-Type": "application/json"})
    assert response.status_code == 200
    assert response.json()["error"]["code"] == code, response.text
    assert response.json()["error"]["message"]
    assert ledger_size(container) == before


def test_a2a_needs_a_token_and_an_agent_token_cannot_cancel_for_the_admin(container, client,
                                                                          admin):
    before = ledger_size(container)
    assert client.post("/a2a", json={"jsonrpc": "2.0", "method": "tasks/get", "id": 1,
                                     "params": {"id": "x"}}).status_code == 401
    rpc(client, admin, "message/send", {"id": "a2a-t", "task_type": "Fetch_Paper",
                                        "payload": {"path": "/x.pdf"}})
    container.service.execute(RegisterAgent(agent_id="reader-9", role="reader"))
    agent = {"Authorization": f"Bearer {container.tokens.create('agent', 'reader-9').token}"}
    written = ledger_size(container)
    refused = rpc(client, agent, "tasks/cancel", {"id": "a2a-t"})
    assert refused["error"]["code"] == -32003
    assert ledger_size(container) == written > before


def test_every_agent_has_a_card(client):
    cards = client.get("/.well-known/agent-card.json").json()
    assert len(cards["agents"]) == 13
    card = client.get("/a2a/agents/reader-2/agent-card.json").json()
    assert card["skills"][0]["id"] == "Summarise_Paper" and card["url"].endswith("/a2a")
    assert client.get("/a2a/agents/nobody/agent-card.json").status_code == 404
