"""The knowledge-graph door: POST /v1/knowledge/karma/enrich (seed 001's contract) and the
graphs as projections, now or as they were at a ledger position, as JSON or GraphML."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response

from adapters.llm import LanguageModel
from app.bootstrap import Container
from handlers import commands as c
from handlers.unit_of_work import require_admin
from knowledge.enrichment import Enrichment
from knowledge.export import to_graphml
from knowledge.requests import EnrichRequest
from readside.models import KnowledgeGraph, error_responses
from readside.queries import Queries
from readside.time_travel import require_position


class LazyModel:
    """The configured model, loaded on the first enrichment (the API starts without it)."""

    def __init__(self, build: Callable[[], LanguageModel]) -> None:
        self._build, self._model, self._lock = build, None, threading.Lock()

    def get(self) -> LanguageModel:
        with self._lock:
            if self._model is None:
                self._model = self._build()
            return self._model


def knowledge_router(container: Container, caller: Any, reader: Any,
                     model: LazyModel) -> APIRouter:
    router = APIRouter(prefix="/v1/knowledge", tags=["knowledge"])
    queries = Queries(container.datastore)

    @router.post("/karma/enrich", summary="Enrich a graph from documents (KARMA agents)",
                 responses=error_responses(400, 401, 403, 404, 409, 413, 415, 422))
    async def enrich(body: EnrichRequest,
                     principal: c.Principal = Depends(caller)) -> dict[str, Any]:  # noqa: B008
        def work() -> dict[str, Any]:
            # Refuse before loading a model for a caller that may not enrich.
            require_admin(principal, "enrich knowledge graphs")
            enrichment = Enrichment(container.service, model.get(), body, principal)
            enrichment.run()
            return enrichment.response()

        return await asyncio.to_thread(work)

    @router.get("/graphs/{graph_id}", summary="A graph, now or at a ledger position",
                response_model=KnowledgeGraph, responses={200: {"content": {
                    "application/graphml+xml": {"schema": {"type": "string"}}}},
                    **error_responses(401, 404, 422)})
    def graph(graph_id: str, position: Annotated[int | None, Query(ge=1)] = None,
              format: Literal["json", "graphml"] = "json",  # noqa: A002
              _: c.Principal | None = Depends(reader)) -> Any:  # noqa: B008
        if position is not None:
            require_position(position, container.projections.head())
        container.projections.catch_up(["knowledge_graph"])
        found = queries.graph(graph_id, position)
        if format == "graphml":
            return Response(to_graphml(found), media_type="application/graphml+xml")
        return found

    return router
