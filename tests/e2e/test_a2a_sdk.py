"""/a2a and the Agent Cards through the official ``a2a-sdk`` 1.x: its card resolver, its client
on the A2A 1.0 interface and on the 0.3 one, its models for the cards, over the real app and a
real PostgreSQL (an in-process ASGI transport carries the SDK's httpx requests)."""

from __future__ import annotations

import asyncio
import copy
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager

import httpx
import pytest
from a2a.client import A2ACardResolver, A2AClientError, Client, ClientConfig, ClientFactory
from a2a.client.card_resolver import parse_agent_card
from a2a.compat.v0_3 import types as v03
from a2a.server.request_handlers.response_helpers import agent_card_to_dict
from a2a.types import a2a_pb2 as a2a
from a2a.utils.errors import (
    InvalidParamsError,
    TaskNotCancelableError,
    TaskNotFoundError,
    UnsupportedOperationError,
)
from a2a.utils.proto_utils import validate_proto_required_fields
from google.protobuf.json_format import ParseDict

from app.bootstrap import Container
from entrypoints.http_api import create_app
from handlers.commands import RegisterAgent
from tests.conftest import ledger_size

BASE = "http://testserver"
LEGACY_CARD_FIELDS = ("url", "preferredTransport", "protocolVersion", "security")


@pytest.fixture
def app(container):
    return create_app(container, follow_projections=False)


@pytest.fixture
def admin(container) -> dict[str, str]:
    return {"Authorization": f"Bearer {container.tokens.create('admin').token}"}


@asynccontextmanager
async def http(app, headers: dict[str, str]) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE,
                                 headers=headers) as client:
        yield client


@asynccontextmanager
async def sdk(app, headers: dict[str, str], version: str = "1.0") -> AsyncIterator[Client]:
    """The SDK's client, made from the card it resolves, on the interface of ``version``."""
    async with http(app, headers) as transport:
        card = await A2ACardResolver(transport, BASE).get_agent_card()
        kept = [i for i in card.supported_interfaces if i.protocol_version == version]
        assert kept, f"the card offers no A2A {version} interface"
        del card.supported_interfaces[:]
        card.supported_interfaces.extend(kept)
        client = ClientFactory(ClientConfig(httpx_client=transport, streaming=False)).create(card)
        try:
            yield client
        finally:
            await client.close()


def message(message_id: str, task_type: str = "Summarise_Paper", context_id: str = "",
            task_id: str = "") -> a2a.Message:
    sent = ParseDict({"messageId": message_id, "role": "ROLE_USER",
                      "parts": [{"data": {"paper": "lora", "uri": "file:///x.pdf"}}],
                      "metadata": {"task_type": task_type}}, a2a.Message())
    sent.context_id, sent.task_id = context_id, task_id
    return sent


async def send(client: Client, sent: a2a.Message) -> a2a.Task:
    answers = [answer async for answer in client.send_message(a2a.SendMessageRequest(
        message=sent))]
    assert len(answers) == 1 and answers[0].HasField("task")
    return answers[0].task


@pytest.mark.parametrize("version", ["1.0", "0.3"])
def test_the_sdk_client_sends_reads_and_cancels_a_task(container, app, admin, version):
    async def scenario() -> None:
        async with sdk(app, admin, version) as client:
            sent = await send(client, message(f"m-{version}", context_id="research-7"))
            assert sent.status.state == a2a.TASK_STATE_SUBMITTED
            assert sent.context_id == "research-7" and sent.status.HasField("timestamp")
            assert sent.metadata["task_type"] == "Summarise_Paper"

            got = await client.get_task(a2a.GetTaskRequest(id=sent.id))
            assert (got.id, got.context_id) == (sent.id, "research-7")
            assert got.status.state == a2a.TASK_STATE_SUBMITTED

            canceled = await client.cancel_task(a2a.CancelTaskRequest(id=sent.id))
            assert canceled.status.state == a2a.TASK_STATE_CANCELED
            assert canceled.status.message.parts[0].text == "canceled over A2A"
            assert canceled.status.message.role == a2a.ROLE_AGENT

            written = ledger_size(container)
            with pytest.raises(TaskNotCancelableError):
                await client.cancel_task(a2a.CancelTaskRequest(id=sent.id))
            with pytest.raises(TaskNotFoundError):
                await client.get_task(a2a.GetTaskRequest(id="no-such-task"))
            with pytest.raises(TaskNotFoundError):
                await client.cancel_task(a2a.CancelTaskRequest(id="no-such-task"))
            assert ledger_size(container) == written

    asyncio.run(scenario())


def test_a_message_without_context_gets_one_from_the_server_and_keeps_it(app, admin):
    async def scenario() -> None:
        async with sdk(app, admin) as client:
            sent = await send(client, message("m-no-context"))
            assert sent.context_id
            got = await client.get_task(a2a.GetTaskRequest(id=sent.id))
            assert got.context_id == sent.context_id

    asyncio.run(scenario())


def test_a_repeated_message_returns_the_first_task_and_writes_nothing(container, app, admin):
    async def first_and_retries(application) -> tuple[str, ...]:
        async with sdk(application, admin) as modern, sdk(application, admin, "0.3") as legacy:
            again = await send(modern, message("m-retry", context_id="ctx-1"))
            size = ledger_size(container)
            retried = await send(modern, message("m-retry", context_id="ctx-1"))
            through_0_3 = await send(legacy, message("m-retry", context_id="ctx-1"))
            assert ledger_size(container) == size
            return again.id, retried.id, through_0_3.id

    ids = asyncio.run(first_and_retries(app))
    assert len(set(ids)) == 1
    size = ledger_size(container)

    # A restarted server (a new process: a new container and app on the same database)
    # derives the same task from the ledger.
    restarted = Container(container.settings, container.endpoints)
    try:
        after = asyncio.run(first_and_retries(create_app(restarted, follow_projections=False)))
    finally:
        restarted.close()
    assert set(after) == set(ids)
    assert ledger_size(container) == size


def test_racing_copies_of_a_message_make_one_task(container, app, admin):
    async def scenario() -> None:
        async with sdk(app, admin) as client:
            before = ledger_size(container)
            await send(client, message("m-alone"))
            one_send = ledger_size(container) - before

            before = ledger_size(container)
            raced = await asyncio.gather(*(send(client, message("m-race")) for _ in range(4)))
            assert len({task.id for task in raced}) == 1
            assert ledger_size(container) - before == one_send

    asyncio.run(scenario())


def test_refusals_reach_the_sdk_as_a2a_errors_and_write_nothing(container, app, admin):
    container.service.execute(RegisterAgent(agent_id="reader-9", role="reader"))
    agent = {"Authorization": f"Bearer {container.tokens.create('agent', 'reader-9').token}"}

    async def scenario() -> None:
        async with sdk(app, admin) as client, sdk(app, agent) as as_agent:
            task = await send(client, message("m-owned"))
            before = ledger_size(container)
            with pytest.raises(InvalidParamsError, match="Launch_Rockets"):
                await send(client, message("m-rockets", task_type="Launch_Rockets"))
            with pytest.raises(UnsupportedOperationError, match="does not continue"):
                await send(client, message("m-follow-up", task_id=task.id))
            with pytest.raises(A2AClientError, match="-32000"):
                await as_agent.cancel_task(a2a.CancelTaskRequest(id=task.id))
            with pytest.raises(A2AClientError, match="-32000"):
                await send(as_agent, message("m-by-agent"))
            assert ledger_size(container) == before

    asyncio.run(scenario())


@pytest.fixture
def cards(app) -> Iterator[list[dict]]:
    async def fetch() -> list[dict]:
        async with http(app, {"Host": "evil.example"}) as client:
            paths = ["/.well-known/agent-card.json",
                     *(f"/a2a/agents/{agent}/agent-card.json"
                       for agent in ("fetcher-1", "reader-2", "reviewer-1"))]
            answers = [await client.get(path) for path in paths]
            assert all(answer.status_code == 200 for answer in answers)
            missing = await client.get("/a2a/agents/nobody/agent-card.json")
            assert missing.status_code == 404
            return [answer.json() for answer in answers]

    yield asyncio.run(fetch())


def test_the_agent_cards_are_valid_for_both_generations_of_the_sdk(cards, container):
    settings = container.settings
    address = f"http://{settings.api_host}:{settings.api_port}/a2a"
    for card in cards:
        legacy = v03.AgentCard.model_validate(card)
        assert legacy.url == address  # the configured address, not the request's Host
        parsed = parse_agent_card(copy.deepcopy(card))
        validate_proto_required_fields(parsed)
        assert {(i.url, i.protocol_binding, i.protocol_version)
                for i in parsed.supported_interfaces} == {(address, "JSONRPC", "1.0"),
                                                          (address, "JSONRPC", "0.3")}
        modern = {key: value for key, value in card.items() if key not in LEGACY_CARD_FIELDS}
        schemes = {name: {key: value for key, value in scheme.items()
                          if key.endswith("SecurityScheme")}
                   for name, scheme in modern["securitySchemes"].items()}
        ParseDict({**modern, "securitySchemes": schemes}, a2a.AgentCard())  # no unknown fields
        # The very card the SDK's own server would publish for it.
        assert agent_card_to_dict(parsed) == {**card, "protocolVersion": "0.3"}
    swarm, fetcher, reader, _ = cards
    assert [skill.id for skill in v03.AgentCard.model_validate(swarm).skills] == [
        "Fetch_Paper", "Summarise_Paper", "Extract_Metrics", "Compare_Methods",
        "Critique_Claim", "Synthesise_Report", "Review_Artifact"]
    assert (fetcher["name"], fetcher["skills"][0]["id"]) == ("fetcher-1", "Fetch_Paper")
    assert reader["skills"][0]["id"] == "Summarise_Paper"
    assert not parse_agent_card(copy.deepcopy(reader)).capabilities.streaming
