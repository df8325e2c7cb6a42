"""A2A over JSON-RPC 2.0 at /a2a, and the Agent Cards, as the official ``a2a-sdk`` speaks them.

One endpoint answers both generations of the protocol, as the SDK's own server does with
its v0.3 compatibility switched on:

- A2A 1.0 (what an ``a2a-sdk`` 1.x client sends): ``SendMessage``, ``GetTask``,
  ``CancelTask``; ProtoJSON shapes (``"TASK_STATE_SUBMITTED"``, ``"ROLE_USER"``, parts as
  ``{"data": ...}``, ``SendMessage`` answers ``{"task": Task}``).
- A2A 0.3 (0.3 clients, and the 1.x SDK talking to a 0.3 interface): ``message/send``,
  ``tasks/get``, ``tasks/cancel``; ``kind``-tagged shapes (``"submitted"``, ``"user"``).
  ``message/send`` also takes the seed's request ``{id, task_type, payload, session_id,
  metadata}``.

The ``A2A-Version`` header names the generation; without it a request is 0.3 (the spec's
rule), and a method of the other generation is refused with -32009. A Task's ``status`` is
``{state, timestamp, message?}``; the seed's own fields (task_type, assignee, karma_delta)
ride in its ``metadata``. ``contextId`` is kept in the ledger: the one the message brought, as the
command's client reference, else the server's correlation id of the request.

An A2A message issues the task whose id is derived from the caller and the ``messageId``: a
repeated message (a retry, or two racing copies) finds that task and writes nothing. A
message that names a ``taskId`` asks to continue that task, which these agents do not do.

A notification (a request without ``id``) is answered 204 with no body and is not executed:
A2A's methods are requests whose answer is the point, and a write nobody hears about is the
kind a client retries. Refused requests are JSON-RPC errors (codes below) and write nothing."""

from __future__ import annotations

import asyncio
import hashlib
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata as package_metadata
from typing import Annotated, Any

import orjson
from eventsourcing.application import AggregateNotFoundError
from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr, ValidationError

from app.bootstrap import Container
from app.settings import Settings
from domain.base import SLUG_PATTERN
from domain.errors import AlreadyExistsError, ConcurrencyError, DomainError, ForbiddenError
from domain.tasks import (
    STATE_AFTER,
    ArtifactProduced,
    DataPart,
    FilePart,
    Task,
    TaskCanceled,
    TaskFailed,
    TaskInputRequired,
    TaskIssued,
    TaskRejected,
    TaskState,
    TextPart,
)
from handlers import commands as c
from readside.queries import Queries
from swarm.roster import ROLES, Role, all_agents
from workers.task_types import UnknownTaskTypeError, require_task_type

# JSON-RPC 2.0's own codes.
PARSE_ERROR, INVALID_REQUEST, METHOD_NOT_FOUND = -32700, -32600, -32601
INVALID_PARAMS, INTERNAL_ERROR = -32602, -32603
# A2A's (both generations give them the same numbers; -32003 is push notifications, unused).
TASK_NOT_FOUND, TASK_NOT_CANCELABLE, UNSUPPORTED_OPERATION = -32001, -32002, -32004
VERSION_NOT_SUPPORTED = -32009
# This server's: JSON-RPC leaves -32000..-32099 to servers and A2A claims -32001 and up.
FORBIDDEN = -32000

V0_3, V1_0 = "0.3", "1.0"
VERSION_HEADER = "A2A-Version"
REASONS = {TASK_NOT_FOUND: "TASK_NOT_FOUND", TASK_NOT_CANCELABLE: "TASK_NOT_CANCELABLE",
           UNSUPPORTED_OPERATION: "UNSUPPORTED_OPERATION",
           VERSION_NOT_SUPPORTED: "VERSION_NOT_SUPPORTED", INVALID_PARAMS: "INVALID_PARAMS",
           INVALID_REQUEST: "INVALID_REQUEST", FORBIDDEN: "FORBIDDEN"}
"""The ``google.rpc.ErrorInfo`` reason an A2A 1.0 error carries in its ``data`` (FORBIDDEN in
this server's domain, the others in A2A's)."""
ERROR_INFO, BAD_REQUEST = ("type.googleapis.com/google.rpc.ErrorInfo",
                           "type.googleapis.com/google.rpc.BadRequest")


class RpcError(Exception):
    def __init__(self, code: int, message: str, problems: list[dict[str, Any]] | None = None
                 ) -> None:
        super().__init__(message)
        self.code, self.message, self.problems = code, message, problems


class Envelope(BaseModel):
    model_config = ConfigDict(extra="forbid")
    jsonrpc: StrictStr = Field(pattern=r"^2\.0$")
    method: StrictStr = Field(min_length=1)
    params: dict[str, Any] | list[Any] | None = None
    id: StrictStr | StrictInt | None = None


class SendParams(BaseModel):
    """The seed's request: what to do, with what, in which session."""

    model_config = ConfigDict(extra="forbid")
    id: c.Slug | None = None
    task_type: str
    payload: dict[str, Any] = {}
    session_id: Annotated[str, Field(min_length=1, max_length=128)] | None = None
    metadata: dict[str, Any] = {}


class Message(BaseModel):
    """An A2A message, either generation: the fields this server reads (others are let be,
    as the SDK's server lets them be)."""

    model_config = ConfigDict(extra="ignore")
    messageId: Annotated[StrictStr, Field(min_length=1, max_length=256)]
    role: StrictStr | StrictInt
    parts: Annotated[list[dict[str, Any]], Field(min_length=1, max_length=32)]
    contextId: Annotated[StrictStr, Field(min_length=1, max_length=128)] | None = None
    taskId: StrictStr | None = None
    metadata: dict[str, Any] | None = None


class MessageParams(BaseModel):
    model_config = ConfigDict(extra="ignore")
    message: Message


class TaskRef(BaseModel):
    """``tasks/get`` / ``GetTask`` and ``tasks/cancel`` / ``CancelTask``; ``reason`` is this
    server's addition (the reason recorded with a cancel)."""

    model_config = ConfigDict(extra="ignore")
    id: Annotated[StrictStr, Field(min_length=1, max_length=256)]
    reason: Annotated[str, Field(min_length=1, max_length=4096)] = "canceled over A2A"


@dataclass(frozen=True)
class Issue:
    task_id: str | None
    task_type: str
    payload: dict[str, Any]
    context_id: str | None
    run_id: str | None
    retry_finds_it: bool
    """An A2A message: a task already under its derived id is the answer, not a conflict."""


@dataclass(frozen=True)
class TaskView:
    task_id: str
    context_id: str
    state: TaskState
    since: datetime
    note: str | None
    note_id: str
    artifacts: list[ArtifactProduced]
    metadata: dict[str, Any]


def message_task_id(principal: c.Principal, message_id: str) -> str:
    """The task an A2A message issues: the same caller and messageId, the same task, however
    often or concurrently it is sent and whether or not the server restarted since."""
    digest = hashlib.sha256(f"{principal.describe()}\n{message_id}".encode()).hexdigest()
    return f"a2a-{digest[:32]}"


def read_issue(params: dict[str, Any], generation: str, principal: c.Principal) -> Issue:
    """Either schema in (the seed's only under 0.3's ``message/send``), one request out."""
    if generation == V0_3 and "message" not in params:
        seed = SendParams.model_validate(params)
        return Issue(seed.id, seed.task_type, seed.payload, seed.session_id,
                     seed.metadata.get("run_id"), retry_finds_it=False)
    message = MessageParams.model_validate(params).message
    if message.role not in (("user",) if generation == V0_3 else ("ROLE_USER", 1)):
        raise RpcError(INVALID_PARAMS, "a message sent to an agent has the user's role")
    data = [part["data"] for part in message.parts if "data" in part]
    if data and not isinstance(data[0], dict):
        raise RpcError(INVALID_PARAMS, "the data part of the message must be a JSON object")
    task_id = message_task_id(principal, message.messageId)
    if message.taskId is not None and message.taskId != task_id:
        raise RpcError(UNSUPPORTED_OPERATION, f"this agent does not continue task "
                       f"{message.taskId!r}: send a new message without taskId")
    meta = message.metadata or {}
    return Issue(task_id, str(meta.get("task_type", "")), data[0] if data else {},
                 message.contextId, meta.get("run_id"), retry_finds_it=True)


def a2a_router(container: Container, caller: Any) -> APIRouter:
    router = APIRouter(tags=["a2a"])
    queries = Queries(container.datastore)
    service = container.service

    def read_task(task_id: str) -> TaskView:
        if not _is_slug(task_id):
            raise RpcError(TASK_NOT_FOUND, f"unknown task {task_id!r}")
        try:
            task = container.ledger.repository.get(Task.id_for(task_id))
        except AggregateNotFoundError:
            raise RpcError(TASK_NOT_FOUND, f"unknown task {task_id!r}") from None
        events = list(container.ledger.events.get(task.id))
        issued = next(event for event in events if isinstance(event, TaskIssued))
        changed = next(event for event in reversed(events)
                       if isinstance(event, tuple(STATE_AFTER)))
        return TaskView(
            task_id=task_id, context_id=_context_of(issued), state=task.state,
            since=changed.timestamp, note=_note(changed), note_id=changed.event_id,
            artifacts=[event for event in events if isinstance(event, ArtifactProduced)],
            metadata={"task_type": task.task_type, "assignee": task.assignee,
                      "karma_delta": str(queries.task_karma_delta(task_id))})

    def send(params: dict[str, Any], principal: c.Principal, generation: str) -> TaskView:
        issue = read_issue(params, generation, principal)
        try:
            task_type = require_task_type(issue.task_type)
        except UnknownTaskTypeError as error:
            raise RpcError(INVALID_PARAMS, f"{error} (the message's metadata.task_type)"
                           ) from None
        command = c.IssueTask(
            task_id=issue.task_id, task_type=task_type.name, payload=issue.payload,
            tags=list(task_type.tags), run_id=issue.run_id, client_reference=issue.context_id)
        try:
            task_id = service.execute(command, principal).ids["task_id"]
        except AlreadyExistsError:
            if not issue.retry_finds_it:
                raise
            task_id = command.task_id
        return read_task(task_id)

    def get(params: dict[str, Any], _: c.Principal, __: str) -> TaskView:
        return read_task(TaskRef.model_validate(params).id)

    def cancel(params: dict[str, Any], principal: c.Principal, _: str) -> TaskView:
        ref = TaskRef.model_validate(params)
        read_task(ref.id)
        try:
            service.execute(c.CancelTask(task_id=ref.id, reason=ref.reason), principal)
        except (ForbiddenError, ConcurrencyError):
            raise
        except DomainError as error:
            raise RpcError(TASK_NOT_CANCELABLE, str(error)) from None
        return read_task(ref.id)

    methods = {
        "message/send": (V0_3, send), "tasks/get": (V0_3, get), "tasks/cancel": (V0_3, cancel),
        "SendMessage": (V1_0, send), "GetTask": (V1_0, get), "CancelTask": (V1_0, cancel),
    }

    @router.post("/a2a", summary="A2A JSON-RPC 2.0: SendMessage, GetTask, CancelTask (1.0); "
                 "message/send, tasks/get, tasks/cancel (0.3)")
    async def rpc(request: Request,
                  principal: c.Principal = Depends(caller)) -> Response:  # noqa: B008
        request_id, generation = None, None
        try:
            try:
                raw = orjson.loads(await request.body())
            except orjson.JSONDecodeError:
                raise RpcError(PARSE_ERROR, "request body is not valid JSON") from None
            if isinstance(raw, list):
                raise RpcError(INVALID_REQUEST, "batch requests are not supported")
            if isinstance(raw, dict) and isinstance(raw.get("id"), str | int):
                request_id = raw["id"] if not isinstance(raw["id"], bool) else None
            try:
                envelope = Envelope.model_validate(raw)
            except ValidationError as error:
                raise RpcError(INVALID_REQUEST, "not a JSON-RPC 2.0 request",
                               _problems(error)) from None
            if "id" not in raw:
                return Response(status_code=204)  # a notification: no answer, nothing done
            if envelope.method not in methods:
                raise RpcError(METHOD_NOT_FOUND, f"unknown method {envelope.method!r}; known: "
                               f"{', '.join(methods)}")
            generation, method = methods[envelope.method]
            _require_version(request.headers.get(VERSION_HEADER), generation)
            if isinstance(envelope.params, list):
                raise RpcError(INVALID_PARAMS, "params must be an object (named parameters)")
            try:
                view = await asyncio.to_thread(method, envelope.params or {}, principal,
                                               generation)
            except ValidationError as error:
                raise RpcError(INVALID_PARAMS, "invalid params", _problems(error)) from None
            except ForbiddenError as error:
                raise RpcError(FORBIDDEN, str(error)) from None
            except ConcurrencyError as error:
                raise RpcError(INTERNAL_ERROR, str(error)) from None
            except DomainError as error:
                raise RpcError(INVALID_PARAMS, str(error)) from None
            result = render(view, generation)
            if method is send and generation == V1_0:
                result = {"task": result}
            return JSONResponse({"jsonrpc": "2.0", "id": envelope.id, "result": result})
        except RpcError as error:
            return JSONResponse({"jsonrpc": "2.0", "id": request_id,
                                 "error": _fault(error, generation)})

    @router.get("/.well-known/agent-card.json", summary="The swarm's Agent Card")
    def swarm_card() -> dict[str, Any]:
        return agent_card("karma-ledger research swarm",
                          "A research swarm on an event-sourced karma ledger: every skill is a "
                          "task type, named in the message's metadata.task_type, with its "
                          "input in a data part.",
                          ROLES, container.settings)

    @router.get("/a2a/agents/{agent_id}/agent-card.json", summary="One agent's Agent Card")
    def card(agent_id: str) -> JSONResponse:
        for known, role in all_agents():
            if known == agent_id:
                return JSONResponse(agent_card(agent_id, role.description, (role,),
                                               container.settings))
        return JSONResponse({"error": {"code": "not_found",
                                       "message": f"no agent card for {agent_id!r}"}},
                            status_code=404)

    return router


def render(view: TaskView, generation: str) -> dict[str, Any]:
    """A Task as the generation spells it: 1.0's ProtoJSON, or 0.3's ``kind``-tagged JSON."""
    modern = generation == V1_0
    status: dict[str, Any] = {
        "state": ("TASK_STATE_" + view.state.name) if modern else view.state.value,
        "timestamp": view.since.astimezone(UTC).isoformat().replace("+00:00", "Z")}
    if view.note:
        status["message"] = {
            "messageId": view.note_id, "role": "ROLE_AGENT" if modern else "agent",
            "parts": [_part(TextPart(text=view.note), modern)],
            "taskId": view.task_id, "contextId": view.context_id,
            **({} if modern else {"kind": "message"})}
    task = {"id": view.task_id, "contextId": view.context_id, "status": status,
            "artifacts": [{"artifactId": event.artifact_id, "name": event.name,
                           "parts": [_part(part, modern) for part in event.parts]}
                          for event in view.artifacts],
            "metadata": view.metadata}
    return task if modern else {"kind": "task", **task}


def _part(part: TextPart | DataPart | FilePart, modern: bool) -> dict[str, Any]:
    if isinstance(part, TextPart):
        return {"text": part.text} if modern else {"kind": "text", "text": part.text}
    if isinstance(part, DataPart):
        return {"data": part.data} if modern else {"kind": "data", "data": part.data}
    if modern:
        return {"url": part.uri, "mediaType": part.mime_type}
    return {"kind": "file", "file": {"uri": part.uri, "mimeType": part.mime_type}}


def _context_of(issued: TaskIssued) -> str:
    """A task's A2A context: the one its message named (kept as the client's reference), else
    the correlation id the server gave the request that issued it."""
    return issued.provenance.client_reference or issued.provenance.correlation_id


def _note(event: Any) -> str | None:
    """What the status message says: why the task failed, was canceled or refused, or what it
    asks."""
    if isinstance(event, TaskInputRequired):
        return event.question
    if isinstance(event, TaskFailed | TaskCanceled | TaskRejected):
        return event.reason
    return None


def agent_card(name: str, description: str, roles: tuple[Role, ...],
               settings: Settings) -> dict[str, Any]:
    """An Agent Card valid for both generations, in the shape the SDK's own server publishes:
    1.0's fields, then 0.3's names for the same (url, preferredTransport, protocolVersion,
    security), which 1.x clients read past. Its address is the configured one, never the
    request's Host."""
    url = f"{public_base_url(settings)}/a2a"
    bearer = {"scheme": "bearer", "description": "a token from `karma tokens create`"}
    return {
        "name": name,
        "description": description,
        "supportedInterfaces": [
            {"url": url, "protocolBinding": "JSONRPC", "protocolVersion": V1_0},
            {"url": url, "protocolBinding": "JSONRPC", "protocolVersion": V0_3}],
        "version": _version(),
        "capabilities": {"streaming": False, "pushNotifications": False},
        "securitySchemes": {"bearer": {"httpAuthSecurityScheme": bearer, "type": "http",
                                       **bearer}},
        "securityRequirements": [{"schemes": {"bearer": {}}}],
        "defaultInputModes": ["application/json"],
        "defaultOutputModes": ["application/json", "text/plain"],
        "skills": [{"id": role.task_type, "name": role.task_type.replace("_", " "),
                    "description": role.description, "tags": list(role.tags)}
                   for role in roles],
        "url": url,
        "preferredTransport": "JSONRPC",
        "protocolVersion": "0.3.0",
        "security": [{"bearer": []}],
    }


def public_base_url(settings: Settings) -> str:
    """Where clients reach this server: a configured public URL when the settings have one,
    else the configured API host and port."""
    if settings.public_url:
        return settings.public_url.rstrip("/")
    return f"http://{settings.api_host}:{settings.api_port}"


def _version() -> str:
    try:
        return package_metadata.version("karma-ledger")
    except package_metadata.PackageNotFoundError:
        return "0.0.0"


def _require_version(header: str | None, generation: str) -> None:
    """The A2A-Version header (absent: 0.3) must name the generation the method belongs to."""
    asked = (header or V0_3).strip()
    major = asked.split(".")[0]
    if major != generation.split(".")[0] or (major == "0" and asked.split(".")[1:2] != ["3"]):
        raise RpcError(VERSION_NOT_SUPPORTED, f"A2A version {asked!r} is not supported for "
                       f"this method: it is A2A {generation} (send {VERSION_HEADER}: "
                       f"{generation})")


def _is_slug(value: str) -> bool:
    return re.fullmatch(SLUG_PATTERN, value) is not None


def _fault(error: RpcError, generation: str | None) -> dict[str, Any]:
    """The JSON-RPC error object; under 1.0 its ``data`` holds ``google.rpc`` details, as the
    SDK reads them, else the list of problems."""
    fault: dict[str, Any] = {"code": error.code, "message": error.message}
    if generation == V1_0 and error.code in REASONS:
        data: list[dict[str, Any]] = [{"@type": ERROR_INFO, "reason": REASONS[error.code],
                                       "domain": "karma-ledger" if error.code == FORBIDDEN
                                       else "a2a-protocol.org", "metadata": {}}]
        if error.problems:
            data.append({"@type": BAD_REQUEST, "fieldViolations": [
                {"field": ".".join(map(str, p["loc"])), "description": p["msg"]}
                for p in error.problems]})
        fault["data"] = data
    elif error.problems is not None:
        fault["data"] = error.problems
    return fault


def _problems(error: ValidationError) -> list[dict[str, Any]]:
    return [{"loc": list(p["loc"]), "msg": p["msg"]} for p in error.errors()]
