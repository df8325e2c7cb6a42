"""The web dashboard: its page and assets at /ui (served by the app itself: no CDN, works
offline), the live feed at /v1/live (server-sent events fed from JetStream), and the reads
and admin actions its pages need beyond the rest of the API.

The page holds no data; everything it shows comes from /v1 with the token the user enters
(kept in the browser's session storage), or with none when the server listens on loopback
only (``create_app(open_reads=True)``, which ``karma serve`` sets for a loopback address).
"""

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import suppress
from datetime import datetime
from importlib import resources
from typing import Annotated, Any, Literal

import nats
import nats.js.errors
from fastapi import APIRouter, Depends, FastAPI, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, StreamingResponse
from fastapi.staticfiles import StaticFiles
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js.api import DeliverPolicy
from pydantic import TypeAdapter

from adapters.nats_servers import servers
from app.bootstrap import Container
from app.read_model_checks import check_views
from domain.catalogue import recorded_class
from domain.errors import NotFoundError
from handlers import commands as c
from readside import models as m
from readside.dashboard import DashboardQueries
from readside.models import error_responses
from streams import cloudevents, consumers

UI_ASSETS = ("entrypoints", "ui")
TIMESTAMP = TypeAdapter(datetime)
KEEP_ALIVE_S = 15.0
"""A comment line this often keeps proxies from closing a quiet feed, and lets the server
notice a client that left."""


def envelope(row: dict[str, Any]) -> dict[str, Any] | None:
    """An audit-log row as the CloudEvent JetStream carries for it (streams.cloudevents)."""
    event_class = recorded_class(row)
    if event_class is None:
        return None
    provenance = {"run_id": row["run_id"], "correlation_id": row["correlation_id"],
                  "causation_id": row["causation_id"]}
    # written as the event store writes it (pydantic's JSON: UTC as "Z"), so that the
    # envelope is the one on the stream, byte for byte in its fields
    state = {**row["payload"], "timestamp": TIMESTAMP.dump_python(row["occurred_at"],
                                                                   mode="json"),
             "provenance": provenance}
    return cloudevents.cloud_event(row["position"], event_class, row["originator_id"],
                                   row["originator_version"], state)


def serve_page(app: FastAPI) -> None:
    """/ui and its assets. The page itself needs no token: it describes nothing."""
    app.mount("/ui/assets", StaticFiles(packages=[UI_ASSETS]), name="ui-assets")
    page = resources.files(UI_ASSETS[0]).joinpath(UI_ASSETS[1], "index.html")

    @app.get("/ui", include_in_schema=False, response_class=HTMLResponse)
    def dashboard() -> str:
        return page.read_text(encoding="utf-8")


def dashboard_router(container: Container, reader: Callable[..., Any],
                     caller: Callable[..., Any]) -> APIRouter:
    router = APIRouter(prefix="/v1", tags=["dashboard"],
                       responses=error_responses(401, 422))
    queries = DashboardQueries(container.datastore)
    Reader = Annotated[c.Principal | None, Depends(reader)]
    Caller = Annotated[c.Principal, Depends(caller)]

    @router.get("/events/{event_id:path}/links", responses=error_responses(404),
                response_model=m.EventLinks,
                summary="An event, its CloudEvents envelope, its cause and what it caused")
    def event_links(event_id: str, _: Reader) -> dict[str, Any]:
        found = queries.event_links(event_id)
        found["envelope"] = envelope(found["event"])
        return found

    @router.get("/event-types", response_model=list[m.EventType],
                summary="The event types the ledger holds")
    def event_types(_: Reader) -> list[dict[str, str]]:
        return [{"event_type": name} for name in queries.event_types()]

    @router.get("/tags", response_model=list[m.Tag],
                summary="The scope tags karma has been earned in")
    def tags(_: Reader) -> list[dict[str, str]]:
        return [{"tag": tag} for tag in queries.tags()]

    @router.get("/ratings", response_model=list[m.AgentRating],
                summary="Each agent's rating in a tag, or its global rating")
    def ratings(_: Reader, tag: str | None = None) -> list[dict[str, Any]]:
        return queries.ratings(tag)

    @router.get("/projections", response_model=m.ProjectionsHealth,
                summary="Each view's position and lag (and, asked, its digest); the recorded "
                        "checks")
    def projections(_: Reader, digests: Annotated[bool, Query(description=(
            "Also each view's digest: reads every row of every view, so seconds on a "
            "large ledger."))] = False) -> dict[str, Any]:
        runner = container.projections
        head, positions = runner.head(), runner.positions()
        views = []
        for name in runner.projections:
            position, digest = runner.digest(name) if digests else (positions[name], None)
            views.append({"name": name, "position": position, "lag": head - position,
                          "digest": digest})
        return {"head": head, "views": views, "checks": queries.read_model_checks()}

    @router.post("/projections/{name}/{action}", responses=error_responses(403, 404),
                 response_model=m.ViewCheck,
                 summary="Verify a view against a replay, or rebuild it (admin); recorded as "
                         "ReadModelChecked")
    async def check(name: str, action: Literal["verify", "rebuild"],
                    principal: Caller) -> dict[str, Any]:
        if name not in container.projections.projections:
            raise NotFoundError(f"unknown projection {name!r}")
        reports = await asyncio.to_thread(check_views, container, [name],
                                          replace=action == "rebuild", actor=principal)
        report = reports[0]
        return {"view": report.name, "position": report.position,
                "live_digest": report.live_digest, "rebuilt_digest": report.rebuilt_digest,
                "identical": report.identical, "replaced": action == "rebuild"}

    @router.get("/learners", response_model=list[m.Learner], summary="The learners (seed 003)")
    def learners(_: Reader) -> list[dict[str, str]]:
        return [{"learner": name} for name in queries.learners()]

    @router.get("/learners/{learner}/health", responses=error_responses(404),
                response_model=m.LearnerHealth,
                summary="A learner's gated updates, RHI measures and deployments")
    def learner_health(learner: str, _: Reader) -> dict[str, Any]:
        return queries.learner_health(learner)

    @router.get("/ecology/colonies", response_model=list[m.ColonyRun],
                summary="Colonies (their runs) with telemetry (seed 002)")
    def ecology_runs(_: Reader) -> list[dict[str, str]]:
        return [{"run_id": run_id} for run_id in queries.ecology_runs()]

    @router.get("/ecology/colonies/{colony_id}", responses=error_responses(404),
                response_model=m.EcologyCharts,
                summary="A colony's charts: energy, accuracy per family, ROI, merges")
    def ecology(colony_id: str, _: Reader) -> dict[str, Any]:
        return queries.ecology(colony_id)

    @router.get("/knowledge/graphs", response_model=list[m.GraphSummary],
                summary="The knowledge graphs and their enrichments")
    def graphs(_: Reader) -> list[dict[str, Any]]:
        return queries.graphs()

    @router.get("/live", summary="The ledger as it grows: server-sent events from JetStream",
                response_class=StreamingResponse, responses={200: {"content": {
                    "text/event-stream": {"schema": {"type": "string"}}}},
                    **error_responses(503)})
    async def live(request: Request, _: Reader,
                   after: Annotated[int | None, Query(ge=0, le=2**63 - 1, description=(
                       "Resume after this ledger position; without it, new events only."))]
                   = None) -> StreamingResponse:
        connection = await nats.connect(servers(container.endpoints.nats_url))
        try:
            subscription = await _subscribe(container, connection, after)
        except NotFoundError as error:
            await connection.close()
            raise HTTPException(503, str(error)) from None
        except BaseException:
            await connection.close()
            raise
        return StreamingResponse(_feed(request, connection, subscription),
                                 media_type="text/event-stream",
                                 headers={"Cache-Control": "no-store"})

    return router


async def _subscribe(container: Container, connection: Any, after: int | None) -> Any:
    """An ordered push consumer on LEDGER (ephemeral, flow-controlled: each message as it
    lands), after ledger position ``after`` when that is on the stream, else from now."""
    topology = container.topology
    js = connection.jetstream()
    try:
        config = None
        if after is not None:
            with suppress(consumers.PositionNotPublishedError):
                config = await consumers.consumer_config(
                    js, topology, consumers.StartAt(position=after + 1), None)
        if config is None:
            config = await consumers.consumer_config(js, topology, consumers.StartAt(), None)
            config.deliver_policy = DeliverPolicy.NEW
        return await js.subscribe(config.filter_subject, stream=topology.ledger_stream,
                                  ordered_consumer=True, config=config)
    except nats.js.errors.NotFoundError:
        raise NotFoundError(f"stream {topology.ledger_stream} is not on JetStream yet: is a "
                            "relay running (karma serve, or karma relay)?") from None


async def _feed(request: Request, connection: Any, subscription: Any) -> AsyncIterator[bytes]:
    """Each CloudEvent of LEDGER as an SSE ``ledger`` event whose id is its ledger position."""
    try:
        yield b": live\n\n"
        while not await request.is_disconnected():
            try:
                message = await subscription.next_msg(timeout=KEEP_ALIVE_S)
            except (TimeoutError, NatsTimeoutError):
                yield b": keep-alive\n\n"
                continue
            position = (message.headers or {}).get(cloudevents.POSITION_HEADER, "")
            yield (f"id: {position}\nevent: ledger\ndata: ".encode() + message.data
                   + b"\n\n")
    finally:
        await connection.close()
