"""A2A-shaped JSON-RPC 2.0 at /a2a: ``message/send`` issues a task, ``tasks/get`` reads it,
``tasks/cancel`` cancels it; Agent Cards describe the swarm's agents.

Requests follow the seed's schema ({id, task_type, payload, session_id, metadata}) or A2A's
({message: {parts, metadata: {task_type}}}); results carry both the seed's fields (id,
status, artifacts, karma_delta) and A2A's (kind, contextId, status as a state). A refused
request is a JSON-RPC error and writes nothing."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

import orjson
from eventsourcing.application import AggregateNotFoundError
from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from app.bootstrap import Container
from domain.errors import DomainError, ForbiddenError
from domain.tasks import ArtifactProduced, Task
from handlers import commands as c
from readside.queries import Queries
from swarm.roster import ROLE_OF_TASK, agent_card, all_agents

PARSE_ERROR, INVALID_REQUEST, METHOD_NOT_FOUND, INVALID_PARAMS = -32700, -32600, -32601, -32602
TASK_NOT_FOUND, TASK_NOT_CANCELABLE, FORBIDDEN = -32001, -32002, -32003


class RpcError(Exception):
    def __init__(self, code: int, message: str, data: Any = None) -> None:
        super().__init__(message)
        self.code, self.message, self.data = code, message, data


class Envelope(BaseModel):
    model_config = ConfigDict(extra="forbid")
    jsonrpc: str = Field(pattern=r"^2\.0$")
    method: str
    params: dict[str, Any] = {}
    id: str | int | None = None


class SendParams(BaseModel):
    """The seed's request: what to do, with what, in which session."""

    model_config = ConfigDict(extra="forbid")
    id: c.Slug | None = None
    task_type: str
    payload: dict[str, Any] = {}
    session_id: Annotated[str, Field(min_length=1, max_length=128)] | None = None
    metadata: dict[str, Any] = {}


class TaskRef(BaseModel):
    model_config = ConfigDict(extra="ignore")
    id: c.Slug
    reason: Annotated[str, Field(min_length=1, max_length=4096)] = "canceled over A2A"


def seed_params(params: dict[str, Any]) -> SendParams:
    """Either schema in, the seed's out."""
    message = params.get("message")
    if not isinstance(message, dict):
        return SendParams.model_validate(params)
    metadata = dict(message.get("metadata") or {})
    data = next((part.get("data") for part in message.get("parts", [])
                 if isinstance(part, dict) and part.get("kind") == "data"), {})
    return SendParams.model_validate({
        "id": message.get("taskId"), "task_type": metadata.pop("task_type", ""),
        "payload": data or {}, "session_id": message.get("contextId"), "metadata": metadata})


def a2a_router(container: Container, caller: Any) -> APIRouter:
    router = APIRouter(tags=["a2a"])
    queries = Queries(container.datastore)
    service = container.service

    def send(params: dict[str, Any], principal: c.Principal) -> dict[str, Any]:
        request = seed_params(params)
        if request.task_type not in ROLE_OF_TASK:
            raise RpcError(INVALID_PARAMS, f"unknown task type {request.task_type!r}; known: "
                           f"{', '.join(sorted(ROLE_OF_TASK))}")
        command = c.IssueTask(
            task_id=request.id, task_type=request.task_type, payload=request.payload,
            tags=list(ROLE_OF_TASK[request.task_type].tags),
            run_id=request.metadata.get("run_id"), correlation_id=request.session_id)
        result = service.execute(command, principal)
        return task_result(result.ids["task_id"], request.session_id)

    def task_result(task_id: str, session_id: str | None = None) -> dict[str, Any]:
        try:
            task = container.ledger.repository.get(Task.id_for(task_id))
        except AggregateNotFoundError:
            raise RpcError(TASK_NOT_FOUND, f"unknown task {task_id!r}") from None
        artifacts = [
            {"artifactId": event.artifact_id, "name": event.name,
             "parts": [part.model_dump(mode="json") for part in event.parts]}
            for event in container.ledger.events.get(task.id)
            if isinstance(event, ArtifactProduced)]
        return {"kind": "task", "id": task_id, "status": task.state.value,
                "task_type": task.task_type, "contextId": session_id or task.run_id,
                "assignee": task.assignee, "artifacts": artifacts,
                "karma_delta": str(queries.task_karma_delta(task_id))}

    def cancel(params: dict[str, Any], principal: c.Principal) -> dict[str, Any]:
        ref = TaskRef.model_validate(params)
        task_result(ref.id)
        try:
            service.execute(c.CancelTask(task_id=ref.id, reason=ref.reason), principal)
        except DomainError as error:
            if isinstance(error, ForbiddenError):
                raise
            raise RpcError(TASK_NOT_CANCELABLE, str(error)) from None
        return task_result(ref.id)

    methods = {
        "message/send": send,
        "tasks/get": lambda params, _: task_result(TaskRef.model_validate(params).id),
        "tasks/cancel": cancel,
    }

    @router.post("/a2a", summary="A2A JSON-RPC 2.0: message/send, tasks/get, tasks/cancel")
    async def rpc(request: Request,
                  principal: c.Principal = Depends(caller)) -> JSONResponse:  # noqa: B008
        body = await request.body()
        request_id = None
        try:
            try:
                raw = orjson.loads(body)
            except orjson.JSONDecodeError:
                raise RpcError(PARSE_ERROR, "request body is not valid JSON") from None
            if isinstance(raw, list):
                raise RpcError(INVALID_REQUEST, "batch requests are not supported")
            if isinstance(raw, dict):
                request_id = raw.get("id") if isinstance(raw.get("id"), str | int) else None
            try:
                envelope = Envelope.model_validate(raw)
            except ValidationError as error:
                raise RpcError(INVALID_REQUEST, "not a JSON-RPC 2.0 request",
                               _problems(error)) from None
            method = methods.get(envelope.method)
            if method is None:
                raise RpcError(METHOD_NOT_FOUND, f"unknown method {envelope.method!r}; known: "
                               f"{', '.join(methods)}")
            try:
                result = await _in_thread(method, envelope.params, principal)
            except ValidationError as error:
                raise RpcError(INVALID_PARAMS, "invalid params", _problems(error)) from None
            except ForbiddenError as error:
                raise RpcError(FORBIDDEN, str(error)) from None
            except DomainError as error:
                raise RpcError(INVALID_PARAMS, str(error)) from None
            return JSONResponse({"jsonrpc": "2.0", "id": envelope.id, "result": result})
        except RpcError as error:
            fault = {"code": error.code, "message": error.message}
            if error.data is not None:
                fault["data"] = error.data
            return JSONResponse({"jsonrpc": "2.0", "id": request_id, "error": fault})

    @router.get("/.well-known/agent-card.json", summary="The swarm's Agent Cards")
    def cards(request: Request) -> dict[str, Any]:
        base = str(request.base_url).rstrip("/")
        return {"name": "karma-ledger research swarm", "url": f"{base}/a2a",
                "agents": [agent_card(agent_id, role, base) for agent_id, role in all_agents()]}

    @router.get("/a2a/agents/{agent_id}/agent-card.json", summary="One agent's Agent Card")
    def card(agent_id: str, request: Request) -> JSONResponse:
        base = str(request.base_url).rstrip("/")
        for known, role in all_agents():
            if known == agent_id:
                return JSONResponse(agent_card(agent_id, role, base))
        return JSONResponse({"error": {"code": "not_found",
                                       "message": f"no agent card for {agent_id!r}"}},
                            status_code=404)

    return router


async def _in_thread(method: Any, params: dict[str, Any], principal: c.Principal) -> Any:
    return await asyncio.to_thread(method, params, principal)


def _problems(error: ValidationError) -> list[dict[str, Any]]:
    return [{"loc": list(p["loc"]), "msg": p["msg"]} for p in error.errors()]
