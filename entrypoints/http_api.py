"""The HTTP door: commands as POSTs, read models as GETs, OpenAPI at /docs and /redoc.

Every route needs a bearer token (``karma tokens create``), except the descriptions of the
API (/docs, /redoc, /openapi.json, /asyncapi and the files they load); an agent's token acts
only as that agent. Refused requests get a 4xx (or a 503 for a read whose ``min_position`` the
read models did not reach in time) with ``{"error": {"code", "message"}}`` (readside/models.py
``ErrorResponse``; validation errors too) and write nothing; the OpenAPI document names every
status each route answers. Projections follow the ledger in a background thread for the app's
lifetime.
"""


import asyncio
import inspect
import re
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Annotated, Any, Literal

import orjson
import psycopg
from eventsourcing import persistence as es_persistence
from fastapi import APIRouter, Depends, FastAPI, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import (
    get_redoc_html,
    get_swagger_ui_html,
    get_swagger_ui_oauth2_redirect_html,
)
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.staticfiles import StaticFiles
from faststream.specification import get_asyncapi_html
from psycopg_pool import PoolTimeout
from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model
from pydantic.json_schema import models_json_schema
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from adapters.llm import LanguageModel
from adapters.token_store import InvalidTokenError
from app.bootstrap import Container, build_model
from app.jobs import decay_periodically
from domain.errors import (
    AgentRetiredError,
    AlreadyExistsError,
    ConcurrencyError,
    DomainError,
    DuplicateReviewError,
    ForbiddenError,
    IllegalTransitionError,
    InsufficientKarmaError,
    NotFoundError,
)
from entrypoints.a2a import a2a_router
from entrypoints.dashboard import dashboard_router, serve_page
from entrypoints.knowledge_api import LazyModel, knowledge_router
from entrypoints.learning_api import LazyServing, learning_router
from handlers import commands as c
from learning.config import load_config
from learning.serving import Serving
from readside import models as m
from readside import provenance
from readside.queries import EventFilter, Queries
from readside.time_travel import TimeMachine
from streams import asyncapi
from workers.task_handlers import builtin_task_types
from workers.task_types import issuable_task_types

MAX_POSITION = 2**63 - 1
"""Ledger positions, versions and sequence numbers are PostgreSQL bigints: larger is refused
(422) before a query could overflow."""
Position = Annotated[int, Query(ge=0, le=MAX_POSITION)]

STATUS_OF_ERROR: dict[type[DomainError], int] = {
    NotFoundError: 404,
    ForbiddenError: 403,
    AlreadyExistsError: 409,
    ConcurrencyError: 409,
    IllegalTransitionError: 409,
    InsufficientKarmaError: 409,
    DuplicateReviewError: 409,
    AgentRetiredError: 409,
}
"""Domain errors not listed here are invalid requests: 422."""


def error_body(code: str, message: str, details: Any = None) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": message}
    if details is not None:
        error["details"] = details
    return {"error": error}


class BodySizeLimit:
    """Refuses a request body larger than ``limit`` bytes with 413, before it is parsed: at
    once when Content-Length says so, else as soon as the streamed (chunked) body passes it."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.limit):
            await self._refuse(scope, receive, send)
            return
        received = 0

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.limit:
                # An HTTPException passes through FastAPI's body parsing (anything else
                # becomes its 400) to the app's handler, which answers the project's 413.
                raise BodyTooLargeError(self.limit)
            return message

        try:
            await self.app(scope, counting_receive, send)
        except BodyTooLargeError:
            await self._refuse(scope, receive, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = JSONResponse(
            error_body("payload_too_large", f"request body exceeds {self.limit} bytes"),
            status_code=413,
        )
        await response(scope, receive, send)


class BodyTooLargeError(StarletteHTTPException):
    def __init__(self, limit: int) -> None:
        super().__init__(413, f"request body exceeds {limit} bytes")


class CommandResult(BaseModel):
    """What a command answers: where its events landed, and the ids it named or created.
    Ids a handler returns beyond a route's declared ones are still answered."""

    model_config = ConfigDict(extra="allow")

    position: int = Field(description=(
        "Ledger position of the last event written: pass it as `min_position` to a query "
        "to read your own write."))
    event_ids: list[str] = Field(description="The events written, as `aggregate@version`.")


def command_result(command_class: type[c.Command], ids: tuple[str, ...]) -> type[BaseModel]:
    """The answer of ``command_class``: ``position``, ``event_ids``, then ``ids`` in order."""
    fields: dict[str, Any] = {name: (str, ...) for name in ids}
    return create_model(f"{command_class.__name__}Result", __base__=CommandResult, **fields)


class JsonRpcRequest(BaseModel):
    """A JSON-RPC 2.0 request (one object; batches are refused). ``params`` depend on the
    method: a send takes A2A's ``{message: {messageId, parts, metadata: {task_type}}}`` (0.3's
    ``message/send`` also the seed's ``{id, task_type, payload, session_id, metadata}``); a
    get or a cancel takes ``{id}``."""

    jsonrpc: Literal["2.0"]
    method: str = Field(description=(
        "A2A 1.0: `SendMessage`, `GetTask`, `CancelTask`; A2A 0.3: `message/send`, "
        "`tasks/get`, `tasks/cancel` (the `A2A-Version` header names the generation)."))
    params: dict[str, Any] = {}
    id: str | int | None = Field(None, description="Without it, a notification: not executed.")


class JsonRpcError(BaseModel):
    code: int = Field(description=(
        "JSON-RPC's (-32700 parse error, -32600 invalid request, -32601 unknown method, "
        "-32602 invalid params, e.g. an unknown task type) or A2A's and this server's "
        "(entrypoints/a2a.py lists them)."))
    message: str
    data: Any = None


class JsonRpcResponse(BaseModel):
    """The answer: ``result`` (a task) or ``error``; a refused request writes nothing."""

    jsonrpc: Literal["2.0"]
    id: str | int | None
    result: dict[str, Any] | None = None
    error: JsonRpcError | None = None


def _ref(model: type[BaseModel]) -> dict[str, Any]:
    return {"application/json": {"schema": {"$ref": f"#/components/schemas/{model.__name__}"}}}


def _error_docs(*statuses: int) -> dict[str, Any]:
    """``error_responses`` as an OpenAPI fragment, for routes another module declares."""
    return {str(status): {"description": m.ERROR_STATUSES[status],
                          "content": _ref(m.ErrorResponse)} for status in statuses}


FOREIGN_ROUTE_DOCS: dict[tuple[str, str], dict[str, Any]] = {
    ("/a2a", "post"): {
        "requestBody": {"required": True, "content": _ref(JsonRpcRequest)},
        "responses": {"200": {"description": "A JSON-RPC response: a result or an error.",
                              "content": _ref(JsonRpcResponse)},
                      "204": {"description": "A notification (a request without `id`): no "
                                             "answer, and nothing is done."},
                      **_error_docs(401, 413)},
    },
    ("/a2a/agents/{agent_id}/agent-card.json", "get"): {"responses": _error_docs(404)},
}
"""What the OpenAPI document says of routes that entrypoints/a2a.py declares (it reads the
JSON-RPC body itself, so FastAPI cannot see its shape)."""

bearer = HTTPBearer(auto_error=False, description="A token from `karma tokens create`.")

DOCS_ASSETS_URL = "/docs-assets"
DOCS_ASSETS = ("fastapi_offline", "static")
"""Swagger UI's and ReDoc's files (swagger-ui-bundle.js, swagger-ui.css, redoc.standalone.js,
favicon.png), from the static folder of the fastapi-offline wheel, which follows their
releases. Served by the app itself, /docs and /redoc need no CDN, so they work offline. The
folder is that wheel's layout rather than a documented API: tests/e2e/test_docs_offline.py
GETs every file the pages load, so a release that moves them fails there."""


def create_app(container: Container, follow_projections: bool = True,
               run_relay: bool = False, decay_every_s: float = 0,
               model: LanguageModel | None = None, open_reads: bool = False) -> FastAPI:
    """The API. ``follow_projections`` keeps the read models live in a thread; ``run_relay``
    publishes the ledger to JetStream from this process (standby if another relay leads);
    ``decay_every_s`` runs karma decay on that period; ``open_reads`` lets reads (GETs of
    /v1 and the dashboard's live feed) go without a token, for a server that listens on
    loopback only: writes always need one."""

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        stop = threading.Event()
        follower = None
        if follow_projections:
            follower = threading.Thread(target=container.projections.follow, args=(stop,),
                                        name="projections", daemon=True)
            follower.start()
        relay_stop = asyncio.Event()
        relay = asyncio.create_task(container.relay().run(relay_stop)) if run_relay else None
        decayer = None
        if decay_every_s:
            decayer = threading.Thread(target=decay_periodically,
                                       args=(container, decay_every_s, stop),
                                       name="decay", daemon=True)
            decayer.start()
        yield
        stop.set()
        relay_stop.set()
        if relay is not None:
            await relay
        if follower is not None:
            follower.join(timeout=10)

    app = FastAPI(
        title="Karma Ledger",
        version="0.1.0",
        description="An event-sourced ledger of multi-agent AI work.",
        lifespan=lifespan,
        docs_url=None,  # FastAPI's own pages load their scripts from a CDN: see _serve_docs
        redoc_url=None,
    )
    _serve_docs(app)
    serve_page(app)
    app.add_middleware(BodySizeLimit, limit=container.settings.max_body_bytes)
    queries = Queries(container.datastore)

    def principal(
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    ) -> c.Principal:
        if credentials is None:
            raise HTTPException(401, "missing bearer token",
                                headers={"WWW-Authenticate": "Bearer"})
        try:
            return container.tokens.authenticate(credentials.credentials)
        except InvalidTokenError as error:
            raise HTTPException(401, str(error),
                                headers={"WWW-Authenticate": "Bearer"}) from None

    Caller = Annotated[c.Principal, Depends(principal)]

    def reader(
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    ) -> c.Principal | None:
        """Who reads: anyone on a loopback-only server that was given no token, else the
        token's principal (a token given is always checked)."""
        if credentials is None and open_reads:
            return None
        return principal(credentials)

    @app.exception_handler(DomainError)
    async def domain_error(_: Request, error: DomainError) -> JSONResponse:
        status = next((code for cls, code in STATUS_OF_ERROR.items()
                       if isinstance(error, cls)), 422)
        return JSONResponse(error_body(error.code, str(error)), status_code=status)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, error: RequestValidationError) -> JSONResponse:
        problems = error.errors()
        if any(problem.get("type") == "json_invalid" for problem in problems):
            return JSONResponse(error_body("malformed_json", "request body is not valid JSON"),
                                status_code=400)
        if (any(tuple(problem.get("loc", ())) == ("body",) for problem in problems)
                and not _sent_as_json(request)):
            return JSONResponse(error_body(
                "unsupported_media_type",
                "send the body as JSON, with the header Content-Type: application/json"),
                status_code=415)
        return JSONResponse(
            error_body("invalid_request", _describe(problems), _jsonable(problems)),
            status_code=422,
        )

    @app.exception_handler(ValidationError)
    async def invalid_command(_: Request, error: ValidationError) -> JSONResponse:
        problems = error.errors()
        return JSONResponse(
            error_body("invalid_request", _describe(problems), _jsonable(problems)),
            status_code=422,
        )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, error: StarletteHTTPException) -> JSONResponse:
        """FastAPI's and Starlette's own refusals too (an unknown path, a body that is not
        UTF-8), so that every error has the project's shape."""
        status, message = error.status_code, str(error.detail)
        code = HTTP_ERROR_CODES.get(status, "http_error")
        if status == 400 and isinstance(error.__cause__, UnicodeDecodeError):
            code, message = "malformed_json", "request body is not valid UTF-8 JSON"
        return JSONResponse(error_body(code, message), status_code=status,
                            headers=error.headers)

    @app.exception_handler(ValueError)
    async def bad_value(_: Request, error: ValueError) -> JSONResponse:
        return JSONResponse(error_body("invalid_request", str(error)), status_code=422)

    async def database_unavailable(_: Request, error: Exception) -> JSONResponse:
        """PostgreSQL unreachable (restarting, say): the request's transaction did not
        complete. Only a connection lost during the COMMIT itself can leave a write landed
        though refused: the README says to read back before resending a non-idempotent one."""
        return JSONResponse(error_body("database_unavailable",
                                       f"the database is unavailable ({type(error).__name__});"
                                       " retry"),
                            status_code=503, headers={"Retry-After": "1"})

    for unavailable in DATABASE_UNAVAILABLE:
        app.add_exception_handler(unavailable, database_unavailable)

    def command_route(path: str, command_class: type[c.Command], summary: str,
                      ids: tuple[str, ...]) -> None:
        """POST ``path`` runs ``command_class``; ids in the path are taken out of the body.
        The answer names ``ids``: those the command's handler returns."""
        path_params = re.findall(r"{(\w+)}", path)
        body_class = _without_fields(command_class, path_params, BODY_FIELDS.get(command_class))

        def endpoint(body: Any, caller: c.Principal, **ids: str) -> dict[str, Any]:
            command = command_class.model_validate(
                {**body.model_dump(exclude_unset=True), **ids}
            )
            result = container.service.execute(command, caller)
            return {"position": result.position, "event_ids": result.event_ids, **result.ids}

        endpoint.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
            [inspect.Parameter("body", inspect.Parameter.KEYWORD_ONLY, annotation=body_class),
             inspect.Parameter("caller", inspect.Parameter.KEYWORD_ONLY, annotation=Caller),
             *(inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, annotation=str)
               for name in path_params)]
        )
        endpoint.__name__ = command_class.__name__
        app.post(path, summary=summary, status_code=200, tags=["commands"],
                 response_model=command_result(command_class, ids),
                 responses=m.error_responses(*COMMAND_STATUSES),
                 dependencies=[Depends(storable_text)])(endpoint)

    agent, run, task = ("agent_id",), ("run_id",), ("task_id",)
    command_route("/v1/agents", c.RegisterAgent, "Register an agent", agent)
    command_route("/v1/agents/{agent_id}/retire", c.RetireAgent, "Retire an agent", agent)
    command_route("/v1/runs", c.StartRun, "Start a run", run)
    command_route("/v1/runs/{run_id}/finish", c.FinishRun, "Finish a run", run)
    command_route("/v1/tasks", c.IssueTask, "Issue a task", task)
    command_route("/v1/tasks/{task_id}/assign", c.AssignTask, "Assign a task to an agent", task)
    command_route("/v1/tasks/{task_id}/start", c.StartTask, "Start (or resume) a task", task)
    command_route("/v1/tasks/{task_id}/artifacts", c.RecordArtifact, "Record an artifact",
                  ("task_id", "artifact_id"))
    command_route("/v1/tasks/{task_id}/input-required", c.RequestInput, "Ask for input", task)
    command_route("/v1/tasks/{task_id}/complete", c.CompleteTask, "Complete a task", task)
    command_route("/v1/tasks/{task_id}/fail", c.FailTask, "Fail a task", task)
    command_route("/v1/tasks/{task_id}/cancel", c.CancelTask, "Cancel a task", task)
    command_route("/v1/tasks/{task_id}/reject", c.RejectTask, "Reject an assigned task", task)
    command_route("/v1/tasks/{task_id}/reviews", c.ScoreReview, "Score a completed task", task)
    command_route("/v1/tasks/{task_id}/schedule", c.ScheduleTask,
                  "Assign to the best candidate by karma in the task's tags",
                  ("task_id", "agent_id"))
    command_route("/v1/tasks/{task_id}/votes", c.CastPeerVote,
                  "Vote (+/-) on the work this task built on", ("task_id", "target_id"))
    command_route("/v1/karma/decay", c.DecayKarma, "Decay karma up to a time",
                  ("decayed_accounts",))
    command_route("/v1/karma/mint", c.MintKarma, "Mint karma for an agent", agent)
    command_route("/v1/karma/burn", c.BurnKarma, "Burn karma of an agent", agent)

    def fresh(min_position: Annotated[int | None, Query(ge=0, le=MAX_POSITION, description=(
            "Wait (up to 5 s) until the read models include this ledger position: pass a "
            "command's returned position to read your own write. A position past the "
            "ledger's head is refused at once (422); one the read models do not reach in "
            "time answers 503."))] = None) -> None:
        if min_position is None:
            return
        head = container.projections.head()
        if min_position > head:
            raise ValueError(f"min_position {min_position} is past the ledger's head ({head})")
        if not container.projections.wait_for(min_position):
            raise HTTPException(503, f"projections have not reached position {min_position} yet")

    reads = APIRouter(prefix="/v1", tags=["queries"],
                      dependencies=[Depends(reader), Depends(storable_text), Depends(fresh)],
                      responses=m.error_responses(401, 422, 503))
    Limit = Annotated[int, Query(ge=1, le=1000)]
    unknown = m.error_responses(404)

    @reads.get("/agents", response_model=list[m.Agent])
    def list_agents() -> list[dict[str, Any]]:
        return queries.agents()

    @reads.get("/agents/{agent_id}", response_model=m.Agent, responses=unknown)
    def get_agent(agent_id: str) -> dict[str, Any]:
        return queries.agent(agent_id)

    @reads.get("/runs", response_model=list[m.Run])
    def list_runs(limit: Limit = 100) -> list[dict[str, Any]]:
        return queries.runs(limit)

    @reads.get("/runs/{run_id}", response_model=m.Run, responses=unknown)
    def get_run(run_id: str) -> dict[str, Any]:
        return queries.run(run_id)

    @reads.get("/tasks", response_model=list[m.Task])
    def list_tasks(run_id: str | None = None, state: str | None = None,
                   assignee: str | None = None, limit: Limit = 100) -> list[dict[str, Any]]:
        return queries.tasks(run_id, state, assignee, limit)

    @reads.get("/tasks/{task_id}", response_model=m.Task, responses=unknown)
    def get_task(task_id: str) -> dict[str, Any]:
        return queries.task(task_id)

    @reads.get("/karma/leaderboard", response_model=list[m.Standing] | list[m.ScopedStanding],
               description="Global standings, or with `tag` the standings in that scope.")
    def leaderboard(limit: Limit = 100, tag: str | None = None) -> list[dict[str, Any]]:
        return queries.leaderboard(limit, tag)

    @reads.get("/karma/stakes", response_model=list[m.Stake])
    def stakes(state: str | None = None, limit: Limit = 100) -> list[dict[str, Any]]:
        return queries.stakes(state, limit)

    @reads.get("/karma/{agent_id}", response_model=m.KarmaBalance, responses=unknown)
    def karma(agent_id: str) -> dict[str, Any]:
        return queries.karma(agent_id)

    @reads.get("/karma/{agent_id}/history", response_model=list[m.KarmaEntry], responses=unknown)
    def history(agent_id: str, limit: Limit = 1000) -> list[dict[str, Any]]:
        return queries.history(agent_id, limit)

    @reads.get("/karma/{agent_id}/why", response_model=m.Explanation, responses=unknown)
    def explain(agent_id: str, scope: str | None = None,
                newest: Annotated[int | None, Query(ge=1, le=1000, description=(
                    "Only this many of the newest entries: a page of a long history."))]
                = None, before: Position | None = None) -> dict[str, Any]:
        return vars(provenance.why(queries, agent_id, scope, newest, before))

    @reads.get("/runs/{run_id}/timeline", response_model=m.RunTimeline, responses=unknown)
    def run_timeline(run_id: str) -> dict[str, Any]:
        return provenance.timeline(queries, run_id)

    def machine() -> TimeMachine:
        return TimeMachine(queries, container.ledger)

    @reads.get("/runs/{run_id}/at", response_model=m.RunState, responses=unknown)
    def run_at(run_id: str, position: Position | None = None,
               time: datetime | None = None) -> dict[str, Any]:
        if (position is None) == (time is None):
            raise ValueError("give exactly one of position and time")
        travel = machine()
        point = position if position is not None else travel.position_at(time)
        return vars(travel.state(run_id, point))

    @reads.get("/runs/{run_id}/diff", response_model=m.RunDiff, responses=unknown)
    def run_diff(run_id: str,
                 start: Annotated[int, Query(alias="from", ge=0, le=MAX_POSITION)],
                 end: Annotated[int, Query(alias="to", ge=0, le=MAX_POSITION)]
                 ) -> dict[str, Any]:
        return machine().diff(run_id, start, end)

    @reads.get("/aggregates/{kind}/{key}", response_model=m.AggregateAt, responses=unknown)
    def aggregate_at(kind: str, key: str,
                     version: Annotated[int | None, Query(ge=1, le=MAX_POSITION)] = None,
                     time: datetime | None = None) -> dict[str, Any]:
        return machine().aggregate(f"{kind}/{key}", version, time)

    @reads.get("/karma/{agent_id}/scopes", response_model=m.Scopes, responses=unknown)
    def scopes(agent_id: str) -> dict[str, Any]:
        return queries.scopes(agent_id)

    @reads.get("/events", response_model=list[m.Event])
    def events(run_id: str | None = None, event_type: str | None = None,
               after: Position = 0, limit: Limit = 100,
               aggregate: Annotated[str | None, Query(description=(
                   "An aggregate's id, e.g. `task/sum-lora`: its events only."))] = None,
               since: datetime | None = None, until: datetime | None = None
               ) -> list[dict[str, Any]]:
        return queries.events(EventFilter(run_id, event_type, after, limit, aggregate,
                                          since, until))

    @reads.get("/status", response_model=m.ProjectionStatus)
    def status() -> dict[str, Any]:
        return {"head": container.projections.head(),
                "projections": container.projections.positions()}

    app.include_router(reads)
    app.include_router(a2a_router(container, principal))
    app.include_router(dashboard_router(container, reader, principal),
                       dependencies=[Depends(storable_text)])
    app.include_router(knowledge_router(container, principal, reader, LazyModel(
        (lambda: model) if model is not None else (lambda: build_model(container.settings)))),
        dependencies=[Depends(storable_text)])
    app.include_router(learning_router(principal, LazyServing(
        lambda: Serving(container, load_config(container.settings.learn_config)))),
        dependencies=[Depends(storable_text)])
    _document_foreign_routes(app)

    @app.get("/asyncapi.json", tags=["streams"], summary="AsyncAPI document of the streams")
    def asyncapi_document() -> dict[str, Any]:
        return asyncapi.document(builtin_task_types(), container.topology)

    @app.get("/asyncapi", tags=["streams"], response_class=HTMLResponse,
             summary="The AsyncAPI document, rendered")
    def asyncapi_page() -> str:
        return get_asyncapi_html(
            asyncapi.application_schema(builtin_task_types(), container.topology))

    return app


def _serve_docs(app: FastAPI) -> None:
    """/docs (Swagger UI) and /redoc as FastAPI serves them, but with their scripts, style
    sheet and icon from this app. Like FastAPI's, they need no token: they describe the API,
    and the token is entered in Swagger UI's Authorize dialog."""
    openapi_url = app.openapi_url or "/openapi.json"
    oauth2_redirect_url = app.swagger_ui_oauth2_redirect_url or "/docs/oauth2-redirect"
    app.mount(DOCS_ASSETS_URL, StaticFiles(packages=[DOCS_ASSETS]), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    def swagger_ui(request: Request) -> HTMLResponse:
        root = _root_path(request)
        return get_swagger_ui_html(
            openapi_url=root + openapi_url,
            title=f"{app.title} - Swagger UI",
            oauth2_redirect_url=root + oauth2_redirect_url,
            swagger_js_url=f"{root}{DOCS_ASSETS_URL}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{DOCS_ASSETS_URL}/swagger-ui.css",
            swagger_favicon_url=f"{root}{DOCS_ASSETS_URL}/favicon.png",
        )

    @app.get(oauth2_redirect_url, include_in_schema=False)
    def swagger_ui_oauth2_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    @app.get("/redoc", include_in_schema=False)
    def redoc(request: Request) -> HTMLResponse:
        root = _root_path(request)
        return get_redoc_html(
            openapi_url=root + openapi_url,
            title=f"{app.title} - ReDoc",
            redoc_js_url=f"{root}{DOCS_ASSETS_URL}/redoc.standalone.js",
            redoc_favicon_url=f"{root}{DOCS_ASSETS_URL}/favicon.png",
            with_google_fonts=False,
        )


def _root_path(request: Request) -> str:
    """The prefix a proxy mounts the app under, as FastAPI's own docs pages honour it."""
    return request.scope.get("root_path", "").rstrip("/")


def _without_fields(model: type[c.Command], names: list[str],
                    replaced: dict[str, Any] | None = None) -> type[BaseModel]:
    """The body of ``model``'s route: without the fields the path names, with ``replaced``
    fields (``name: (annotation, FieldInfo)``) instead of the command's own."""
    if not names and not replaced:
        return model
    fields: dict[str, Any] = {
        name: (replaced or {}).get(name, (info.annotation, info))
        for name, info in model.model_fields.items()
        if name not in names
    }
    return create_model(f"{model.__name__}Body", __config__=model.model_config, **fields)


def _task_type_field() -> tuple[Any, Any]:
    """IssueTask's ``task_type`` at the door: one the registry (workers/task_types.py) says a
    door may issue, so that REST and A2A accept the same types and nothing is queued on a
    subject no worker reads. Documented as an enum; anything else is a 422 that writes
    nothing."""
    known = tuple(issuable_task_types())
    return (Literal[known], Field(  # type: ignore[valid-type]
        description="A task type of the registry: " + ", ".join(known) + "."))


BODY_FIELDS: dict[type[c.Command], dict[str, Any]] = {
    c.IssueTask: {"task_type": _task_type_field()},
}
"""Fields a route's body declares more narrowly than its command."""

DATABASE_UNAVAILABLE: tuple[type[Exception], ...] = (
    es_persistence.OperationalError, es_persistence.InterfaceError, psycopg.OperationalError,
    psycopg.InterfaceError, PoolTimeout)
"""What reaching PostgreSQL raises when it is down or restarting: a 503 to retry, not a 500."""

COMMAND_STATUSES = (400, 401, 403, 404, 409, 413, 415, 422, 503)
"""What a command route may refuse with (readside/models.py ERROR_STATUSES)."""

HTTP_ERROR_CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden",
                    404: "not_found", 405: "method_not_allowed", 413: "payload_too_large",
                    503: "unavailable"}


async def storable_text(request: Request) -> None:
    """Refuses (422) text that PostgreSQL cannot hold: a NUL character (``\\u0000`` in JSON,
    ``%00`` in a URL) in a path, a query or a JSON body. Saved in an event, it would stop every
    projection that parses the ledger as jsonb; in a query, it would fail the read."""
    values = [*request.path_params.values(), *(v for _, v in request.query_params.multi_items())]
    if any("\x00" in value for value in values):
        raise ValueError("text may not contain the NUL character (\\u0000)")
    body = await request.body()
    if b"\\u0000" in body and _sent_as_json(request):
        try:
            parsed = orjson.loads(body)
        except orjson.JSONDecodeError:
            return  # FastAPI refused it already, or it is not this check's to refuse
        if _holds_nul(parsed):
            raise ValueError("text may not contain the NUL character (\\u0000)")


def _holds_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_holds_nul(key) or _holds_nul(item) for key, item in value.items())
    if isinstance(value, list):
        return any(_holds_nul(item) for item in value)
    return False


def _sent_as_json(request: Request) -> bool:
    content_type = request.headers.get("content-type", "")
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or media.endswith("+json")


def _document_foreign_routes(app: FastAPI) -> None:
    """The OpenAPI document with FOREIGN_ROUTE_DOCS merged into the routes of other modules,
    the JSON-RPC models they name among its schemas, and FastAPI's default validation error
    (``{detail}``, which this app never answers) replaced by ErrorResponse wherever a route
    still names it."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = build()
            for (path, method), extra in FOREIGN_ROUTE_DOCS.items():
                operation = schema["paths"].get(path, {}).get(method)
                if operation is not None:
                    _merge(operation, extra)
            for operations in schema["paths"].values():
                for operation in operations.values():
                    for status, response in operation.get("responses", {}).items():
                        if "HTTPValidationError" in str(response):
                            operation["responses"][status] = {
                                "description": m.ERROR_STATUSES[422],
                                "content": _ref(m.ErrorResponse)}
            schemas = schema["components"]["schemas"]
            for unused in ("HTTPValidationError", "ValidationError"):
                schemas.pop(unused, None)
            _, definitions = models_json_schema(
                [(JsonRpcRequest, "validation"), (JsonRpcResponse, "serialization")],
                ref_template="#/components/schemas/{model}")
            schemas.update(definitions["$defs"])
        return app.openapi_schema  # type: ignore[return-value]

    app.openapi = openapi  # type: ignore[method-assign]


def _merge(into: dict[str, Any], extra: dict[str, Any]) -> None:
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            _merge(into[key], value)
        else:
            into[key] = value


def _describe(problems: list[Any]) -> str:
    parts = []
    for problem in problems[:5]:
        location = ".".join(str(p) for p in problem.get("loc", ()) if p != "body")
        parts.append(f"{location or 'body'}: {problem.get('msg')}")
    return "; ".join(parts)


def _jsonable(problems: list[Any]) -> list[dict[str, Any]]:
    return [{"loc": [str(p) for p in problem.get("loc", ())], "msg": problem.get("msg"),
             "type": problem.get("type")} for problem in problems]

