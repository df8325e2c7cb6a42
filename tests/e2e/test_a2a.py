"""A2A JSON-RPC at /a2a and the Agent Cards, over a real app and a real PostgreSQL: the wire
itself (the seed's request, A2A 0.3's shapes, refusals, notifications). The official SDK's
client talks to the same endpoint in test_a2a_sdk.py."""

from collections.abc import Iterator
from functools import partial

import pytest
from a2a.compat.v0_3 import types as v03
from fastapi.testclient import TestClient

from entrypoints.http_api import create_app
from handlers.commands import RegisterAgent
from swarm.corpus import PILOT, write_pdf
from swarm.roster import all_agents
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
    v03.Task.model_validate(sent["result"])
    assert sent["result"]["status"]["state"] == "submitted" and sent["result"]["kind"] == "task"
    assert sent["result"]["contextId"] == "research-123"

    container.service.execute(RegisterAgent(agent_id="fetcher-1", role="fetcher"))
    worker = TaskWorker(container.service, "fetcher-1",
                        {"Fetch_Paper": partial(fetch_paper, cache_dir=tmp_path / "cache")})
    message = TaskMessage(task_id="a2a-fetch-1", task_type="Fetch_Paper",
                          payload={"path": str(paper)})
    worker.claim(message)
    worker.perform(message)

    got = rpc(client, admin, "tasks/get", {"id": "a2a-fetch-1"})["result"]
    v03.Task.model_validate(got)
    assert got["status"]["state"] == "completed" and got["contextId"] == "research-123"
    assert got["metadata"]["assignee"] == "fetcher-1" and got["metadata"]["karma_delta"] == "0"
    kinds = [part["kind"] for part in got["artifacts"][0]["parts"]]
    assert kinds == ["file", "data"]


def test_the_a2a_message_shape_is_accepted_and_a_task_can_be_canceled_once(container, client,
                                                                          admin):
    message = {"message": {
        "kind": "message", "role": "user", "messageId": "m1", "contextId": "ctx",
        "parts": [{"kind": "data", "data": {"paper": "lora", "uri": "file:///x.pdf"}}],
        "metadata": {"task_type": "Summarise_Paper"}}}
    sent = rpc(client, admin, "message/send", message)["result"]
    assert v03.Task.model_validate(sent).status.state == v03.TaskState.submitted
    assert sent["contextId"] == "ctx" and sent["metadata"]["task_type"] == "Summarise_Paper"
    size = ledger_size(container)
    assert rpc(client, admin, "message/send", message)["result"]["id"] == sent["id"]
    assert ledger_size(container) == size
    canceled = rpc(client, admin, "tasks/cancel", {"id": sent["id"], "reason": "not needed"})
    assert canceled["result"]["status"]["state"] == "canceled"
    assert canceled["result"]["status"]["message"]["parts"] == [
        {"kind": "text", "text": "not needed"}]
    again = rpc(client, admin, "tasks/cancel", {"id": sent["id"]})
    assert again["error"]["code"] == -32002 and "canceled" in again["error"]["message"]


def test_a_notification_gets_no_answer_and_does_nothing(container, client, admin):
    before = ledger_size(container)
    for method in ("message/send", "tasks/cancel", "no/such/method"):
        response = client.post("/a2a", headers=admin, json={
            "jsonrpc": "2.0", "method": method, "params": {
                "id": "a2a-note", "task_type": "Fetch_Paper", "payload": {"path": "/x.pdf"}}})
        assert response.status_code == 204 and response.content == b""
    assert ledger_size(container) == before
    assert rpc(client, admin, "tasks/get", {"id": "a2a-note"})["error"]["code"] == -32001


def send(params: str) -> bytes:
    return b'{"jsonrpc": "2.0", "method": "message/send", "id": 1, "params": ' + \
        params.encode() + b"}"


A2A_MESSAGE = ('{"message": {"role": "user", "messageId": "m-x", "parts": '
               '[{"kind": "data", "data": {"paper": "lora"}}], '
               '"metadata": {"task_type": "Summarise_Paper"}}}')
REFUSED = [
    ("not JSON", b"{nope", -32700),
    ("empty body", b"", -32700),
    ("a batch", b'[{"jsonrpc": "2.0", "method": "tasks/get", "id": 1}]', -32600),
    ("not an object", b'"tasks/get"', -32600),
    ("not JSON-RPC 2.0", b'{"jsonrpc": "1.0", "method": "tasks/get", "id": 1}', -32600),
    ("no method", b'{"jsonrpc": "2.0", "id": 1, "params": {}}', -32600),
    ("method not a string", b'{"jsonrpc": "2.0", "method": 7, "id": 1}', -32600),
    ("params not structured", b'{"jsonrpc": "2.0", "method": "tasks/get", "id": 1, '
                              b'"params": "x"}', -32600),
    ("params by position", b'{"jsonrpc": "2.0", "method": "message/send", "id": 1, '
                           b'"params": ["Fetch_Paper"]}', -32602),
    ("unknown method", b'{"jsonrpc": "2.0", "method": "tasks/delete", "id": 1}', -32601),
    ("unknown task type", send('{"task_type": "Launch_Rockets"}'), -32602),
    ("unknown task type, A2A", send(A2A_MESSAGE.replace("Summarise_Paper", "Launch")), -32602),
    ("no task type, A2A", send(A2A_MESSAGE.replace('"task_type": "Summarise_Paper"', "")),
     -32602),
    ("no messageId", send(A2A_MESSAGE.replace('"messageId": "m-x", ', "")), -32602),
    ("an agent's message", send(A2A_MESSAGE.replace('"user"', '"agent"')), -32602),
    ("data not an object", send(A2A_MESSAGE.replace('{"paper": "lora"}', "[1]")), -32602),
    ("no parts", send(A2A_MESSAGE.replace('[{"kind": "data", "data": {"paper": "lora"}}]',
                                          "[]")), -32602),
    ("continues a task", send(A2A_MESSAGE.replace('"m-x"', '"m-x", "taskId": "other"')),
     -32004),
    ("oversize payload", send('{"task_type": "Fetch_Paper", "payload": {"blob": "'
                              + "x" * 70_000 + '"}}'), -32602),
    ("unknown task", b'{"jsonrpc": "2.0", "method": "tasks/get", "id": 1, "params": '
                     b'{"id": "no-such-task"}}', -32001),
    ("cancel unknown", b'{"jsonrpc": "2.0", "method": "tasks/cancel", "id": 1, "params": '
                       b'{"id": "no-such-task"}}', -32001),
    ("task id of the wrong type", b'{"jsonrpc": "2.0", "method": "tasks/get", "id": 1, '
                                  b'"params": {"id": 42}}', -32602),
    ("bad params", send('{"task_type": "Fetch_Paper", "payload": "not an object"}'), -32602),
    # PostgreSQL's jsonb cannot hold NUL: a task carrying one would stop every projection.
    ("NUL in the payload", send('{"task_type": "Fetch_Paper", "payload": {"url": "a\\u0000b"}}'),
     -32602),
    ("NUL in a key, A2A", send(A2A_MESSAGE.replace('"paper"', '"pa\\u0000per"')), -32602),
    ("a 1.0 method without A2A-Version", b'{"jsonrpc": "2.0", "method": "SendMessage", '
                                         b'"id": 1, "params": {}}', -32009),
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


@pytest.mark.parametrize(("version", "method"), [("2.0", "SendMessage"), ("0.3", "GetTask"),
                                                 ("1.0", "message/send"), ("0.2", "tasks/get")])
def test_a_method_of_another_a2a_version_is_refused(container, client, admin, version, method):
    before = ledger_size(container)
    response = client.post("/a2a", headers={**admin, "A2A-Version": version}, json={
        "jsonrpc": "2.0", "id": "r", "method": method, "params": {"id": "x"}})
    assert response.json()["error"]["code"] == -32009 and response.json()["id"] == "r"
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
    assert refused["error"]["code"] == -32000  # this server's: A2A's -32003 is push notices
    assert ledger_size(container) == written > before


def test_every_agent_has_a_valid_card_at_the_configured_address(container, client):
    settings = container.settings
    address = f"http://{settings.api_host}:{settings.api_port}/a2a"
    swarm = v03.AgentCard.model_validate(client.get("/.well-known/agent-card.json").json())
    assert swarm.url == address
    for agent_id, role in all_agents():
        card = client.get(f"/a2a/agents/{agent_id}/agent-card.json",
                          headers={"Host": "attacker.example"}).json()
        parsed = v03.AgentCard.model_validate(card)
        assert (parsed.name, parsed.url) == (agent_id, address)
        assert [skill.id for skill in parsed.skills] == [role.task_type]
    assert len(all_agents()) == 13
    assert client.get("/a2a/agents/nobody/agent-card.json").status_code == 404
